// One Secure Scuttlebutt run for ipfeed's bench: Alice appends N messages to her feed (timed),
// then Bob, a second peer in a process of his own, replicates them over loopback with EBT (timed
// from his connect until his ssb-db2 holds all N, each one validated by ssb-db2's add: shape,
// hash chain, signature).
// Usage: node ssb-bench.js N TEXT   Prints one line of JSON. (Bob runs as: --bob N ADDR ID DIR.)
'use strict'

const { fork } = require('child_process')
const fs = require('fs')
const net = require('net')
const os = require('os')
const path = require('path')
const SecretStack = require('secret-stack')
const caps = require('ssb-caps')
const ssbKeys = require('ssb-keys')

const TIMEOUT_MS = 600e3 // the whole run gives up after this

function version (name) {
  return require(path.join(__dirname, 'node_modules', name, 'package.json')).version
}

// chloride (ssb-keys' crypto) falls back to JavaScript when sodium-native does not load.
function nativeSodium () {
  try { return !process.env.CHLORIDE_JS && !!require('sodium-native').crypto_sign_verify_detached } catch { return false }
}

async function freePort () {
  const server = net.createServer()
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address()
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function peer (dir) {
  fs.mkdirSync(dir, { recursive: true })
  const keys = ssbKeys.generate()
  const port = await freePort()
  const create = SecretStack({ caps })
    .use(require('ssb-db2'))
    .use(require('ssb-db2/compat/ebt'))
    .use(require('ssb-ebt'))
  return create({
    path: dir,
    keys,
    caps,
    host: '127.0.0.1',
    port,
    connections: {
      incoming: { net: [{ scope: 'device', host: '127.0.0.1', port, transform: 'shs' }] },
      outgoing: { net: [{ transform: 'shs' }] }
    },
    ebt: { logging: false },
    db2: {}
  })
}

const call = (fn, ...args) => new Promise((resolve, reject) =>
  fn(...args, (err, value) => (err ? reject(err) : resolve(value))))

// Bob: started by Alice's process once her feed is written; replicates it when told to go.
async function bob (n, address, aliceId, dir) {
  const me = await peer(dir)
  let added = 0
  let done
  const all = new Promise((resolve) => { done = resolve })
  me.db.onMsgAdded(({ kvt }) => {
    if (kvt.value.author === aliceId && ++added === n) done(process.hrtime.bigint())
  })
  me.ebt.request(me.id, true)
  me.ebt.request(aliceId, true)
  await new Promise((resolve) => { process.once('message', resolve); process.send({ ready: me.id }) })
  const t0 = process.hrtime.bigint()
  await call(me.connect, address)
  const t1 = await all
  const clock = await call(me.getVectorClock)
  if (clock[aliceId] !== n) throw new Error(`bob holds alice's feed up to ${clock[aliceId]}, not ${n}`)
  process.send({ replicate_s: Number(t1 - t0) / 1e9, replicated: added })
  await call(me.close, true)
}

function replicate (n, address, aliceId, dir) {
  return new Promise((resolve, reject) => {
    const child = fork(__filename, ['--bob', String(n), address, aliceId, dir], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
    const exited = new Promise((resolve) => child.on('exit', resolve))
    child.on('message', (m) => (m.ready ? child.send('go') : resolve({ ...m, exited })))
    child.on('error', reject)
    exited.then((code) => reject(new Error(`bob exited with ${code} before he had all ${n} messages`)))
  })
}

async function main () {
  const n = Number(process.argv[2])
  const text = process.argv[3]
  if (!(n > 0) || !text) throw new Error('usage: node ssb-bench.js N TEXT')
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ipfeed-bench-ssb-'))
  const alice = await peer(path.join(tmp, 'alice'))
  try {
    // Append: one message at a time, as a client posts; then wait until the log is written.
    const t0 = process.hrtime.bigint()
    let last
    for (let i = 1; i <= n; i++) {
      last = await call(alice.db.create, { content: { type: 'post', text: `${text} #${i}` } })
    }
    await new Promise((resolve) => alice.db.getLog().onDrain(resolve))
    const appendS = Number(process.hrtime.bigint() - t0) / 1e9
    if (last.value.sequence !== n) throw new Error(`alice's feed ends at ${last.value.sequence}, not ${n}`)
    const bytes = Buffer.byteLength(JSON.stringify(last.value))

    // Replicate: Alice shares her feed; Bob wants it, connects to her and EBT streams it.
    alice.ebt.request(alice.id, true)
    const got = await replicate(n, alice.getAddress(), alice.id, path.join(tmp, 'bob'))
    await got.exited
    process.stdout.write(JSON.stringify({
      system: 'ssb',
      messages: n,
      message_bytes: bytes,
      append_s: appendS,
      append_per_s: n / appendS,
      replicate_s: got.replicate_s,
      replicate_per_s: n / got.replicate_s,
      replicated: got.replicated,
      node: process.versions.node,
      crypto: nativeSodium() ? 'sodium-native (prebuilt)' : 'chloride JS fallback',
      versions: Object.fromEntries(['ssb-db2', 'ssb-ebt', 'secret-stack', 'ssb-keys', 'ssb-classic',
        'sodium-native', 'leveldown'].map((p) => [p, version(p)]))
    }) + '\n')
  } finally {
    await call(alice.close, true).catch(() => {})
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const timer = setTimeout(() => { console.error(`ssb-bench: no result after ${TIMEOUT_MS / 1000} s`); process.exit(2) }, TIMEOUT_MS)
const run = process.argv[2] === '--bob'
  ? bob(Number(process.argv[3]), process.argv[4], process.argv[5], process.argv[6])
  : main()
run.then(() => { clearTimeout(timer); process.exit(0) }, (err) => { console.error(err); process.exit(1) })
