/**
 * Real reverse proxies for the forward-auth tests (issue 16): nginx (`auth_request`) and Caddy
 * (`forward_auth`) from Debian's packages, started on loopback with their own config, pid, log and
 * temp paths in a temp directory, in front of a tiny Node upstream that echoes what it received.
 * The same configurations are the ones docs/integrations.md shows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import {
  createServer as createHttpServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type Server,
} from 'node:http';
import { createServer as createNetServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NGINX = '/usr/sbin/nginx';
const CADDY = '/usr/bin/caddy';

/** The identity headers Gatehouse answers with and the proxies pass on. */
const IDENTITY_HEADERS = [
  'X-Gatehouse-User-Id',
  'X-Gatehouse-Email',
  'X-Gatehouse-Name',
  'X-Gatehouse-Role',
  'X-Gatehouse-Kind',
  'X-Gatehouse-Session-Id',
  'X-Gatehouse-Api-Key-Id',
];

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One GET with exactly these headers (node:http: no fetch-imposed header rules), no redirects followed. */
export function get(url: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'GET', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A free loopback port (the proxies take a port number, not 0). */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`proxy exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`proxy did not listen on ${port}: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The upstream app: answers JSON `{ path, headers }` of what reached it. */
export async function startUpstream(): Promise<{ port: number; server: Server }> {
  const server = createHttpServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url, headers: req.headers }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, server };
}

export interface RunningProxy {
  url: string;
  stop(): Promise<void>;
}

/** nginx.conf for `auth_request` (the docs/integrations.md example, on loopback). */
function nginxConfig(dir: string, port: number, gatehouse: string, upstream: number): string {
  const check = (path: string) => `
      internal;
      proxy_pass ${gatehouse}${path};
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Uri $request_uri;`;
  const identity = IDENTITY_HEADERS.map((h) => {
    const v = `$gh_${h.slice('X-Gatehouse-'.length).toLowerCase().replace(/-/g, '_')}`;
    const upstreamVar = `$upstream_http_${h.toLowerCase().replace(/-/g, '_')}`;
    return `      auth_request_set ${v} ${upstreamVar};\n      proxy_set_header ${h} ${v};`;
  }).join('\n');
  const app = (authPath: string) => `
      auth_request ${authPath};
      error_page 401 = /_gatehouse_signin;
${identity}
      proxy_pass http://127.0.0.1:${upstream};`;
  return `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location = /_gatehouse {${check('/auth/check')}
    }
    location = /_gatehouse_admin {${check('/auth/check?role=admin')}
    }
    location = /_gatehouse_signin {
      internal;
      proxy_pass ${gatehouse}/auth/sign-in;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $http_host;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
    location /admin/ {${app('/_gatehouse_admin')}
    }
    location / {${app('/_gatehouse')}
    }
  }
}
`;
}

export async function startNginx(gatehouse: string, upstream: number): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  writeFileSync(conf, nginxConfig(dir, port, gatehouse, upstream));
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const log = () => {
    let file = '';
    try {
      file = readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      /* not written yet */
    }
    return `${stderr}\n${file}`;
  };
  await waitForPort(port, child, log);
  return { url: `http://127.0.0.1:${port}`, stop: () => stopChild(child, dir) };
}

/** Caddyfile for `forward_auth` (the docs/integrations.md example, on loopback, no admin API, no TLS). */
function caddyConfig(port: number, gatehouse: string, upstream: number): string {
  const host = new URL(gatehouse).host;
  const strip = IDENTITY_HEADERS.map((h) => `    request_header -${h}`).join('\n');
  const auth = (uri: string) => `    forward_auth ${host} {
      uri ${uri}
      copy_headers ${IDENTITY_HEADERS.join(' ')}
    }`;
  return `{
  admin off
  auto_https off
}
http://127.0.0.1:${port} {
  route /admin/* {
${strip}
${auth('/auth/check?role=admin&redirect=1')}
    reverse_proxy 127.0.0.1:${upstream}
  }
  route {
${strip}
${auth('/auth/check?redirect=1')}
    reverse_proxy 127.0.0.1:${upstream}
  }
}
`;
}

export async function startCaddy(gatehouse: string, upstream: number): Promise<RunningProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-caddy-'));
  for (const sub of ['data', 'config', 'home']) mkdirSync(join(dir, sub));
  const port = await freePort();
  const conf = join(dir, 'Caddyfile');
  writeFileSync(conf, caddyConfig(port, gatehouse, upstream));
  const child = spawn(CADDY, ['run', '--config', conf, '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: join(dir, 'home'),
      XDG_DATA_HOME: join(dir, 'data'),
      XDG_CONFIG_HOME: join(dir, 'config'),
    },
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForPort(port, child, () => stderr);
  return { url: `http://127.0.0.1:${port}`, stop: () => stopChild(child, dir) };
}

async function stopChild(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dir, { recursive: true, force: true });
}
