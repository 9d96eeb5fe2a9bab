// Drives a node's Ocean provider face with the real @oceanprotocol/lib
// client (pinned in package.json). Run by compat_test.go:
//
//   node compat.js <nodeURL> <userToken> <paymentToken> <fileURL> <consumerPrivateKey>
//
// Prints one JSON object with what each step observed; the Go test judges it.
const { ProviderInstance, generateDid } = require('@oceanprotocol/lib')
const { ethers } = require('ethers')
const crypto = require('crypto')

const [url, userToken, payToken, fileUrl, pk] = process.argv.slice(2)
const NFT = '0x00000000000000000000000000000000000000aa'
const DT = '0x00000000000000000000000000000000000000dd'

async function main() {
  const wallet = new ethers.Wallet(pk)
  const out = { consumer: wallet.address }

  // Discovery.
  const ep = await ProviderInstance.getEndpoints(url)
  out.providerAddress = ep.providerAddress
  out.isValidProvider = await ProviderInstance.isValidProvider(url)

  // Nonce.
  out.nonce0 = await ProviderInstance.getNonce(url, wallet.address)

  // File info of a URL, with checksum.
  out.fileinfo = await ProviderInstance.getFileInfo({ type: 'url', url: fileUrl, method: 'GET' }, url, true)

  // Encrypt the file list, as ocean.js createAsset does.
  const files = { datatokenAddress: DT, nftAddress: NFT, files: [{ type: 'url', url: fileUrl, method: 'GET' }] }
  const encrypted = await ProviderInstance.encrypt(files, 8996, url)
  out.encryptedPrefix = encrypted.slice(0, 4)

  // Publish the DDO with the node (its Aquarius-style API; not ocean.js).
  const did = generateDid(NFT, 8996)
  out.did = did
  const ddo = {
    '@context': ['https://w3id.org/did/v1'], id: did, version: '4.1.0', chainId: 8996, nftAddress: NFT,
    metadata: { created: '2026-11-01T00:00:00Z', updated: '2026-11-01T00:00:00Z', type: 'dataset', name: 'compat', description: 'compat test', author: 'dds', license: 'MIT' },
    services: [{ id: 'access-1', type: 'access', files: encrypted, datatokenAddress: DT, serviceEndpoint: url, timeout: 86400, price: '0.25' }]
  }
  const pub = await fetch(url + '/api/aquarius/assets/ddo', { method: 'POST', headers: { Authorization: 'Bearer ' + userToken, 'Content-Type': 'application/json' }, body: JSON.stringify(ddo) })
  out.publishStatus = pub.status

  out.didFiles = await ProviderInstance.checkDidFiles(did, 'access-1', url, true)

  // Initialize, and check the fee's signature as the datatoken contract would.
  const init = await ProviderInstance.initialize(did, 'access-1', 0, wallet.address, url)
  out.initialize = init
  const fee = init.providerFee
  const feeHash = ethers.utils.solidityKeccak256(['bytes', 'address', 'address', 'uint256', 'uint256'],
    [fee.providerData, fee.providerFeeAddress, fee.providerFeeToken, fee.providerFeeAmount, fee.validUntil])
  out.feeSigner = ethers.utils.verifyMessage(ethers.utils.arrayify(feeHash), { r: fee.r, s: fee.s, v: fee.v })

  // Order: pay through the node's Billing face; the payment id is the transferTxId.
  const pay = await fetch(url + '/payments', {
    method: 'POST', headers: { Authorization: 'Bearer ' + payToken, 'Content-Type': 'application/vnd.api+json' },
    body: JSON.stringify({ data: { type: 'payment', attributes: { status: 'success', amount: 0.25, document_id: did, service_id: 'access-1', consumer_address: wallet.address } } })
  })
  const txId = (await pay.json()).data.id
  out.payStatus = pay.status

  // Signed download.
  const dl = await ProviderInstance.getDownloadUrl(did, 'access-1', 0, txId, url, wallet)
  let res = await fetch(dl)
  const body = Buffer.from(await res.arrayBuffer())
  out.download = { status: res.status, length: body.length, sha256: crypto.createHash('sha256').update(body).digest('hex'), disposition: res.headers.get('content-disposition') }
  res = await fetch(dl)
  out.replay = { status: res.status, body: await res.text() }

  // Auth token instead of a signature.
  const token = await ProviderInstance.generateAuthToken(wallet, url)
  const dl2 = await ProviderInstance.getDownloadUrl(did, 'access-1', 0, txId, url, token)
  res = await fetch(dl2, { headers: { AuthToken: token } })
  out.tokenDownload = { status: res.status, length: (await res.arrayBuffer()).byteLength }
  out.invalidate = await ProviderInstance.invalidateAuthToken(wallet, token, url)
  res = await fetch(dl2, { headers: { AuthToken: token } })
  out.revokedDownload = { status: res.status }

  out.nonceEnd = await ProviderInstance.getNonce(url, wallet.address)
  console.log('COMPAT-RESULT ' + JSON.stringify(out))
}

main().catch((e) => { console.error(e); process.exit(1) })
