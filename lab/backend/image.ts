/**
 * The image of every lab container, built here without any registry: a root filesystem assembled
 * from busybox-static (the container's init, so the image stands on its own) and a few files of
 * /etc, turned into an image with `docker import`. At run time the host's /usr is bind-mounted
 * read-only (Debian's merged /usr: /bin, /sbin, /lib are symlinks into it), so iproute2, ping,
 * nuttcp, tshark, tcpdump, node and wireguard-go are the host's own, at the host's versions.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { LispwgError } from '../../src/util/errors.js';
import { run } from '../../src/util/exec.js';

const RECIPE_VERSION = 1;
const BUSYBOX = '/bin/busybox';
const IMAGE_REPO = 'lispwg-node';
/** PID 1 of every container: sleeps until the container is removed. */
export const IMAGE_INIT = ['/lispwg/busybox', 'sleep', '2147483647'];
/** Host paths bind-mounted read-only into every container. */
export const HOST_BINDS = ['/usr', '/etc/ld.so.cache', '/etc/alternatives'];
const ETC_COPIES = ['/etc/services', '/etc/protocols', '/etc/nsswitch.conf'];

async function tag(): Promise<string> {
  const h = createHash('sha256').update(String(RECIPE_VERSION));
  h.update(await readFile(BUSYBOX));
  return `${IMAGE_REPO}:${h.digest('hex').slice(0, 12)}`;
}

/** Builds the image unless this recipe's tag exists; returns its name. */
export async function ensureImage(docker: Docker): Promise<string> {
  if (!existsSync(BUSYBOX)) throw new LispwgError('LAB_TOOL_MISSING', `${BUSYBOX} is missing (Debian package busybox-static): run npm run setup`);
  const name = await tag();
  try {
    await docker.getImage(name).inspect();
    return name;
  } catch {
    /* not built yet */
  }
  const dir = await mkdtemp(join(tmpdir(), 'lispwg-image-'));
  try {
    const root = join(dir, 'rootfs');
    for (const d of ['usr', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'var/run', 'var/log', 'root', 'lispwg']) await mkdir(join(root, d), { recursive: true });
    for (const l of ['bin', 'sbin', 'lib', 'lib64']) await symlink(`usr/${l}`, join(root, l));
    await copyFile(BUSYBOX, join(root, 'lispwg/busybox'));
    await writeFile(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n');
    await writeFile(join(root, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
    await writeFile(join(root, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
    await writeFile(join(root, 'etc/ld.so.cache'), '');
    await mkdir(join(root, 'etc/alternatives'));
    for (const f of ETC_COPIES) if (existsSync(f)) await copyFile(f, join(root, f));
    const tar = join(dir, 'rootfs.tar');
    await run(['tar', '--numeric-owner', '-C', root, '-cf', tar, '.']);
    const stream = await docker.importImage(createReadStream(tar), { repo: name.split(':')[0], tag: name.split(':')[1] });
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
    await docker.getImage(name).inspect();
    return name;
  } catch (e) {
    throw new LispwgError('DOCKER_IMAGE', `building the lab image ${name} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
