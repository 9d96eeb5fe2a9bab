// Drives a node's Ocean provider face on a real local chain with the real
// @oceanprotocol/lib client, as an Ocean user does. Run by chain_test.go:
//
//   node chain_compat.js <rpcURL> <nodeURL> <fileServerURL>
//
// It deploys Ocean's contracts (@oceanprotocol/contracts, with a plain
// ERC20 in place of OCEAN), publishes a dataset and an algorithm on chain
// (the DDOs encrypted by the node), orders both, downloads, runs a compute
// job, reuses an order, and makes the transactions the node must refuse.
// Prints one JSON object after COMPAT-RESULT; the Go test judges it and
// presents the refused transactions itself.
const { ProviderInstance, NftFactory, Datatoken, Nft, getEventFromTx, generateDid } = require('@oceanprotocol/lib')
const { ethers } = require('ethers')
const crypto = require('crypto')

const [rpc, url, files] = process.argv.slice(2)
const CHAIN = 8996
const ZERO = '0x0000000000000000000000000000000000000000'
// Hardhat's development accounts 0 to 2.
const KEYS = [
  'ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
]
const artifact = (p) => require('@oceanprotocol/contracts/artifacts/' + p)

async function deploy(signer, path, ...args) {
  const a = artifact(path)
  const c = await new ethers.ContractFactory(a.abi, a.bytecode, signer).deploy(...args)
  await c.deployed()
  return c
}

// publish creates a data NFT with a datatoken, mints datatokens to the
// consumer, and sets the DDO on chain, encrypted by the node.
async function publish(config, publisher, consumer, name, type, serviceType, serviceId, fileUrl, extra) {
  const factory = new NftFactory(config.nftFactoryAddress, publisher, CHAIN, config)
  const tx = await factory.createNftWithDatatoken(
    { name, symbol: name.slice(0, 4).toUpperCase(), templateIndex: 1, tokenURI: 'https://example.invalid/' + name, transferable: true, owner: publisher.address },
    { templateIndex: 1, minter: publisher.address, paymentCollector: publisher.address, mpFeeAddress: ZERO, feeToken: ZERO, feeAmount: '0', cap: '1000', name: name + ' DT', symbol: 'DT' })
  const rc = await tx.wait()
  const nftAddress = getEventFromTx(rc, 'NFTCreated').args.newTokenAddress
  const datatokenAddress = getEventFromTx(rc, 'TokenCreated').args.newTokenAddress
  const did = generateDid(nftAddress, CHAIN)
  const fileList = { datatokenAddress, nftAddress, files: [{ type: 'url', url: fileUrl, method: 'GET' }] }
  const ddo = {
    '@context': ['https://w3id.org/did/v1'], id: did, version: '4.1.0', chainId: CHAIN, nftAddress,
    metadata: { created: '2026-11-01T00:00:00Z', updated: '2026-11-01T00:00:00Z', type, name, description: name, author: 'dds', license: 'MIT', ...(extra.metadata || {}) },
    services: [{ id: serviceId, type: serviceType, files: await ProviderInstance.encrypt(fileList, CHAIN, url), datatokenAddress, serviceEndpoint: url, timeout: 86400, ...(extra.service || {}) }],
  }
  // More services of the same datatoken (ordered by their index).
  for (const id of extra.more || []) ddo.services.push({ ...ddo.services[0], id })
  // As ocean.js's publishing examples do: the DDO encrypted by the
  // provider, flags 2 (encrypted), and the SHA-256 of the text encrypted.
  const text = JSON.stringify(ddo)
  const encrypted = await ProviderInstance.encrypt(ddo, CHAIN, url)
  const hash = '0x' + crypto.createHash('sha256').update(text).digest('hex')
  await new Nft(publisher, CHAIN, config).setMetadata(nftAddress, publisher.address, 0, url, '', '0x02', encrypted, hash)
  const dt = new Datatoken(publisher, CHAIN, config)
  await dt.mint(datatokenAddress, publisher.address, '10', consumer.address)
  return { did, nftAddress, datatokenAddress }
}

async function main() {
  const provider = new ethers.providers.JsonRpcProvider(rpc)
  provider.pollingInterval = 50
  const [publisher, consumer, other] = KEYS.map((k) => new ethers.Wallet(k, provider))
  const out = { consumer: consumer.address, other: other.address }
  // The node wants two confirmations: one more block after an order.
  const confirm = () => provider.send('hardhat_mine', ['0x1'])

  // Ocean's contracts, in the order of Ocean's deploy script.
  const ocean = await deploy(publisher, '@openzeppelin/contracts/token/ERC20/ERC20.sol/ERC20.json', 'Ocean Token (mock)', 'OCEAN')
  const t20 = await deploy(publisher, 'contracts/templates/ERC20Template.sol/ERC20Template.json')
  const t721 = await deploy(publisher, 'contracts/templates/ERC721Template.sol/ERC721Template.json')
  const router = await deploy(publisher, 'contracts/pools/FactoryRouter.sol/FactoryRouter.json', publisher.address, ocean.address, publisher.address, publisher.address, [])
  const factory = await deploy(publisher, 'contracts/ERC721Factory.sol/ERC721Factory.json', t721.address, t20.address, router.address)
  await (await router.addFactory(factory.address)).wait()
  const config = { chainId: CHAIN, network: 'development', nodeUri: rpc, providerUri: url, nftFactoryAddress: factory.address, oceanTokenAddress: ocean.address, routerFactoryAddress: router.address, gasFeeMultiplier: 1, transactionConfirmationBlocks: 1 }

  const data = await publish(config, publisher, consumer, 'dataset', 'dataset', 'access', 'access-1', files + '/open.csv', { more: ['access-2'] })
  const cdata = await publish(config, publisher, consumer, 'cdata', 'dataset', 'compute', 'compute-1', files + '/dataset.csv', { service: { compute: { allowRawAlgorithm: false, publisherTrustedAlgorithms: [] } } })
  const algo = await publish(config, publisher, consumer, 'algo', 'algorithm', 'access', 'access-1', files + '/algo/linecount', { metadata: { algorithm: { language: 'wasm', version: '1', container: { entrypoint: 'wasm', image: 'wasi', tag: 'preview1' } } } })
  out.dataset = data
  out.computeDataset = cdata
  out.algorithm = algo

  // Order the dataset: initialize (the signed provider fee), startOrder.
  const dtC = new Datatoken(consumer, CHAIN, config)
  const init = await ProviderInstance.initialize(data.did, 'access-1', 0, consumer.address, url)
  const order = await dtC.startOrder(data.datatokenAddress, consumer.address, 0, init.providerFee)
  out.order = order.hash
  await confirm()

  // Download with the order.
  const dl = await ProviderInstance.getDownloadUrl(data.did, 'access-1', 0, order.hash, url, consumer)
  let res = await fetch(dl)
  const body = Buffer.from(await res.arrayBuffer())
  out.download = { status: res.status, length: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex') }

  // Reuse the order with a new provider fee, and download with the reuse.
  const init2 = await ProviderInstance.initialize(data.did, 'access-1', 0, consumer.address, url)
  const reuse = await dtC.reuseOrder(data.datatokenAddress, order.hash, init2.providerFee)
  out.reuse = reuse.hash
  await confirm()
  res = await fetch(await ProviderInstance.getDownloadUrl(data.did, 'access-1', 0, reuse.hash, url, consumer))
  out.reuseDownload = { status: res.status, length: (await res.arrayBuffer()).byteLength }

  // Compute: initializeCompute quotes both fees; order the dataset and the
  // algorithm with them; start; wait; fetch the result.
  const envs = await ProviderInstance.getComputeEnvironments(url)
  const env = envs[0].id
  const ci = await ProviderInstance.initializeComputeV1([{ documentId: cdata.did, serviceId: 'compute-1' }], { documentId: algo.did, serviceId: 'access-1' }, env, url, consumer.address, CHAIN, ZERO, 60)
  const dOrder = await dtC.startOrder(cdata.datatokenAddress, consumer.address, 0, ci.datasets[0].providerFee)
  const aOrder = await dtC.startOrder(algo.datatokenAddress, consumer.address, 0, ci.algorithm.providerFee)
  out.computeOrder = dOrder.hash
  out.algorithmOrder = aOrder.hash
  await confirm()
  const started = await ProviderInstance.computeStartV1(url, consumer, env,
    { documentId: cdata.did, serviceId: 'compute-1', transferTxId: dOrder.hash }, { documentId: algo.did, serviceId: 'access-1', transferTxId: aOrder.hash })
  const jobId = (Array.isArray(started) ? started[0] : started).jobId
  for (let i = 0; i < 600; i++) {
    const st = await ProviderInstance.computeStatus(url, consumer.address, jobId)
    out.computeStatus = (Array.isArray(st) ? st[0] : st).status
    if (out.computeStatus >= 70 || (out.computeStatus > 30 && out.computeStatus < 40)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  res = await fetch(await ProviderInstance.getComputeResultUrl(url, consumer, jobId, 0))
  out.computeResult = { status: res.status, text: await res.text() }

  // What the node must refuse.
  // A provider fee that names the zero address with an empty signature:
  // the contract takes it; the node did not sign it.
  const unsigned = {
    providerFeeAddress: ZERO, providerFeeToken: ZERO, providerFeeAmount: '0', v: '0', r: ethers.constants.HashZero, s: ethers.constants.HashZero,
    providerData: ethers.utils.hexlify(ethers.utils.toUtf8Bytes(JSON.stringify({ environment: '', timestamp: 0, dt: data.datatokenAddress, id: 'access-1' }))), validUntil: '0',
  }
  out.unsignedFee = (await dtC.startOrder(data.datatokenAddress, consumer.address, 0, unsigned)).hash
  // A fee the node signed, valid for 30 seconds (the test then moves the
  // node's clock past it).
  const initShort = await ProviderInstance.initialize(data.did, 'access-1', 0, consumer.address, url, undefined, undefined, undefined, Math.floor(Date.now() / 1000) + 30)
  out.shortFee = (await dtC.startOrder(data.datatokenAddress, consumer.address, 0, initShort.providerFee)).hash
  out.shortFeeValidUntil = initShort.providerFee.validUntil
  // A transaction that failed on chain: an order by an account without
  // datatokens, sent without gas estimation so that it is mined, reverted.
  const dtO = new ethers.Contract(data.datatokenAddress, artifact('contracts/templates/ERC20Template.sol/ERC20Template.json').abi, other)
  const init3 = await ProviderInstance.initialize(data.did, 'access-1', 0, other.address, url)
  const f = init3.providerFee
  const failed = await dtO.startOrder(other.address, 0,
    { providerFeeAddress: f.providerFeeAddress, providerFeeToken: f.providerFeeToken, providerFeeAmount: f.providerFeeAmount, v: f.v, r: f.r, s: f.s, providerData: f.providerData, validUntil: f.validUntil },
    { consumeMarketFeeAddress: ZERO, consumeMarketFeeToken: ZERO, consumeMarketFeeAmount: 0 }, { gasLimit: 1000000 })
  out.failed = failed.hash
  try { await failed.wait() } catch (e) { out.failedStatus = e.receipt ? e.receipt.status : -1 }
  // The compute dataset's publisher revokes it (metadata state 3).
  await new Nft(publisher, CHAIN, config).setMetadataState(cdata.nftAddress, publisher.address, 3)
  // A last order, one confirmation deep: the test mines the next block.
  const init4 = await ProviderInstance.initialize(data.did, 'access-1', 0, consumer.address, url)
  out.late = (await dtC.startOrder(data.datatokenAddress, consumer.address, 0, init4.providerFee)).hash
  console.log('COMPAT-RESULT ' + JSON.stringify(out))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
