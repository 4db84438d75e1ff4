import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { GatehouseProvider } from '@gatehouse/client/react';
import { createClient, createQueryClient } from './api.js';
import { App } from './app.js';
import { ErrorBoundary } from './components.js';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root element');

createRoot(root).render(
  <StrictMode>
    <GatehouseProvider client={createClient()} queryClient={createQueryClient()}>
      <ErrorBoundary>
        <App />
      </ErrorBoundary>
    </GatehouseProvider>
  </StrictMode>,
);
