// One Secure Scuttlebutt run for ipfeed's bench: Alice appends N messages to her feed (timed),
// then Bob, a second peer in this process, replicates them over loopback with EBT (timed until
// his ssb-db2 holds all N, each one validated by ssb-db2's add: shape, hash chain, signature).
// Usage: node ssb-bench.js N TEXT   Prints one line of JSON.
'use strict'

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

async function main () {
  const n = Number(process.argv[2])
  const text = process.argv[3]
  if (!(n > 0) || !text) throw new Error('usage: node ssb-bench.js N TEXT')
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ipfeed-bench-ssb-'))
  const alice = await peer(path.join(tmp, 'alice'))
  const bob = await peer(path.join(tmp, 'bob'))
  try {
    // Append: one message at a time, as a client posts; then wait until the log is on disk.
    const t0 = process.hrtime.bigint()
    let last
    for (let i = 1; i <= n; i++) {
      last = await call(alice.db.create, { content: { type: 'post', text: `${text} #${i}` } })
    }
    await new Promise((resolve) => alice.db.getLog().onDrain(resolve))
    const appendS = Number(process.hrtime.bigint() - t0) / 1e9
    if (last.value.sequence !== n) throw new Error(`alice's feed ends at ${last.value.sequence}, not ${n}`)
    const bytes = Buffer.byteLength(JSON.stringify(last.value))

    // Replicate: both want Alice's feed; Bob connects to Alice; EBT streams it.
    let added = 0
    let done
    const all = new Promise((resolve) => { done = resolve })
    bob.db.onMsgAdded(({ kvt }) => {
      if (kvt.value.author === alice.id && ++added === n) done(process.hrtime.bigint())
    })
    alice.ebt.request(alice.id, true)
    bob.ebt.request(bob.id, true)
    bob.ebt.request(alice.id, true)
    const t1 = process.hrtime.bigint()
    await call(bob.connect, alice.getAddress())
    const t2 = await all
    const replicateS = Number(t2 - t1) / 1e9
    const clock = await call(bob.getVectorClock)
    if (clock[alice.id] !== n) throw new Error(`bob holds alice's feed up to ${clock[alice.id]}, not ${n}`)
    process.stdout.write(JSON.stringify({
      system: 'ssb',
      messages: n,
      message_bytes: bytes,
      append_s: appendS,
      append_per_s: n / appendS,
      replicate_s: replicateS,
      replicate_per_s: n / replicateS,
      replicated: added,
      node: process.versions.node,
      versions: Object.fromEntries(['ssb-db2', 'ssb-ebt', 'secret-stack', 'ssb-keys', 'ssb-classic',
        'sodium-native', 'leveldown'].map((p) => [p, version(p)]))
    }) + '\n')
  } finally {
    await Promise.allSettled([call(alice.close, true), call(bob.close, true)])
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

const timer = setTimeout(() => { console.error(`ssb-bench: no result after ${TIMEOUT_MS / 1000} s`); process.exit(2) }, TIMEOUT_MS)
main().then(() => { clearTimeout(timer); process.exit(0) }, (err) => { console.error(err); process.exit(1) })
