import autocannon from 'autocannon';
import { createFirstUser, mutation, mutationBody, startGatehouse } from './lib/gatehouse.js';
const s = await startGatehouse('prof', { REAL_MAIN: process.argv[2]!, PROFILE_AFTER_MS: '6000' }, '/tmp/prof-main.mjs');
const { token } = await createFirstUser(s.url);
const ids: string[] = [];
for (let i = 0; i < 16; i++) { const email = `u${i}@bench.local`; await mutation(s.url, 'user.create', { email, name: `U${i}`, password: 'bench-User-pass-3141' }, token); ids.push(email); }
let next = 0;
const c0 = s.cpuSeconds();
const r = await autocannon({ url: `${s.url}/trpc/auth.signIn`, connections: 8, duration: 10, requests: [{ method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (q) => ({ ...q, body: mutationBody({ identifier: ids[next++ % 16], password: 'bench-User-pass-3141' }) }) }] });
console.log('sign-ins/s', r.requests.average, 'cpu ms per sign-in', ((s.cpuSeconds() - c0) * 1000 / r.requests.total).toFixed(2), 'non2xx', r.non2xx);
await s.stop();
