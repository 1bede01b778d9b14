// A real S3 endpoint for tests: a single-node Ceph cluster (one monitor, one in-memory OSD) with a
// RADOS Gateway on 127.0.0.1, following ../shared/test-services.md. Up in a few seconds; all data
// lives in RAM and in a temporary folder that is removed afterwards.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, portOpen, startDaemon, waitFor, type Daemon } from './daemon.ts';

export interface CephS3 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Environment for the CLI: credentials and region. */
  env: Record<string, string>;
  /** Runs radosgw-admin against this cluster. */
  admin(args: string[]): string;
  /** Kills the gateway (kill -9: a server dying in the middle of requests); the data stays. */
  killGateway(): Promise<void>;
  /** Starts the gateway again, on the same port. */
  startGateway(): Promise<void>;
  stop(): Promise<void>;
}

export async function startCeph(): Promise<CephS3> {
  const dir = mkdtempSync(join(tmpdir(), 'lifeboat-ceph-'));
  for (const d of ['run', 'log', 'crash', 'mon/ceph-a', 'osd/ceph-0', 'rgw']) mkdirSync(join(dir, d), { recursive: true });
  const [monPort, rgwPort] = [await freePort(), await freePort()];
  const fsid = randomUUID();
  const conf = join(dir, 'ceph.conf');
  writeFileSync(conf, cephConf(dir, fsid, monPort, rgwPort));
  const keyring = join(dir, 'keyring');
  const run = (cmd: string, args: string[], input?: string) => execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
  const ceph = (args: string[], input?: string) => run('ceph', ['-c', conf, ...args], input);

  run('ceph-authtool', ['--create-keyring', keyring, '--gen-key', '-n', 'mon.', '--cap', 'mon', 'allow *']);
  run('ceph-authtool', [keyring, '--gen-key', '-n', 'client.admin', '--cap', 'mon', 'allow *', '--cap', 'osd', 'allow *', '--cap', 'mgr', 'allow *']);
  run('monmaptool', ['--create', '--addv', 'a', `[v2:127.0.0.1:${monPort}]`, '--fsid', fsid, join(dir, 'monmap')]);
  run('ceph-mon', ['-c', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap'), '--keyring', keyring]);
  const daemons: Daemon[] = [];
  let rgw: Daemon | undefined;
  const stop = async () => {
    // radosgw first, the monitor last: radosgw hangs for minutes if the OSD goes first.
    await rgw?.stop();
    for (const d of [...daemons].reverse()) await d.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  const rgwKeyring = join(dir, 'rgw.keyring');
  const startGateway = async () => {
    rgw = startDaemon('radosgw', ['-c', conf, '-f', '-n', 'client.rgw.a', '-k', rgwKeyring]);
    await waitFor('radosgw', () => portOpen(rgwPort), 60_000, rgw.output);
  };
  try {
    const mon = startDaemon('ceph-mon', ['-c', conf, '-f', '-i', 'a']);
    daemons.push(mon);
    await waitFor('ceph-mon', () => portOpen(monPort), 30_000, mon.output);

    const osdUuid = randomUUID();
    const osdKey = run('ceph-authtool', ['--gen-print-key']).trim();
    ceph(['osd', 'new', osdUuid, '-i', '-'], JSON.stringify({ cephx_secret: osdKey }));
    run('ceph-authtool', ['--create-keyring', join(dir, 'osd/ceph-0/keyring'), '--name', 'osd.0', '--add-key', osdKey]);
    run('ceph-osd', ['-c', conf, '--mkfs', '-i', '0', '--osd-uuid', osdUuid]);
    const osd = startDaemon('ceph-osd', ['-c', conf, '-f', '-i', '0']);
    daemons.push(osd);
    await waitFor('ceph-osd', () => / up /.test(ceph(['osd', 'dump']).split('\n').find((l) => l.startsWith('osd.0')) ?? ''), 60_000, osd.output);

    ceph(['auth', 'get-or-create', 'client.rgw.a', 'mon', 'allow rw', 'osd', 'allow rwx', '-o', rgwKeyring]);
    await startGateway();

    const accessKey = 'LIFEBOATTESTKEY00001';
    const secretKey = 'lifeboat-test-secret-key-0123456789abcdef';
    const admin = (args: string[]) => run('radosgw-admin', ['-c', conf, '-n', 'client.admin', ...args]);
    admin(['user', 'create', '--uid=test', '--display-name=test', `--access-key=${accessKey}`, `--secret-key=${secretKey}`]);
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    return {
      endpoint,
      accessKey,
      secretKey,
      env: { AWS_ACCESS_KEY_ID: accessKey, AWS_SECRET_ACCESS_KEY: secretKey, AWS_REGION: 'us-east-1', AWS_EC2_METADATA_DISABLED: 'true' },
      admin,
      killGateway: async () => {
        await rgw?.stop('SIGKILL');
        rgw = undefined;
      },
      startGateway,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

function cephConf(dir: string, fsid: string, monPort: number, rgwPort: number): string {
  return `[global]
fsid = ${fsid}
mon_host = v2:127.0.0.1:${monPort}
mon_initial_members = a
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_msgr1 = false
auth_cluster_required = cephx
auth_service_required = cephx
auth_client_required = cephx
keyring = ${dir}/keyring
run_dir = ${dir}/run
admin_socket = ${dir}/run/$name.asok
log_file = ${dir}/log/$name.log
pid_file = ${dir}/run/$name.pid
crash_dir = ${dir}/crash
mon_data = ${dir}/mon/$cluster-$id
osd_data = ${dir}/osd/$cluster-$id
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
osd_objectstore = memstore
memstore_device_bytes = 2147483648
paxos_propose_interval = 0.01
paxos_min_wait = 0.001
mon_data_avail_crit = 0
mon_data_avail_warn = 0
mon_warn_on_pool_no_redundancy = false

[osd.0]
keyring = ${dir}/osd/ceph-0/keyring

[client.rgw.a]
# tcp_nodelay: without it a kept-alive connection waits 40 ms (Nagle against delayed ACK) per small reply.
rgw_frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1
rgw_data = ${dir}/rgw
`;
}
