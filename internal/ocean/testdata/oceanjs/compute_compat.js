// Drives a node's compute endpoints with the real @oceanprotocol/lib client
// (the provider face's pinned copy, found through NODE_PATH). Run by
// compat_test.go:
//
//   node compat.js <nodeURL> <datasetDID> <algorithmDID> <orderID> <consumerPrivateKey>
//
// Prints one JSON object with what each step observed; the Go test judges it.
const { ProviderInstance } = require('@oceanprotocol/lib')
const { ethers } = require('ethers')

const [url, did, algo, tx, pk] = process.argv.slice(2)

async function main() {
  const wallet = new ethers.Wallet(pk)
  const out = { consumer: wallet.address }
  out.envs = await ProviderInstance.getComputeEnvironments(url)
  const started = await ProviderInstance.computeStartV1(url, wallet, out.envs[0].id,
    { documentId: did, serviceId: 'compute-1', transferTxId: tx }, { documentId: algo })
  out.start = started
  const jobId = (Array.isArray(started) ? started[0] : started).jobId
  for (let i = 0; i < 400; i++) {
    const st = await ProviderInstance.computeStatus(url, wallet.address, jobId)
    out.status = Array.isArray(st) ? st[0] : st
    if (out.status.status >= 70 || (out.status.status > 30 && out.status.status < 40)) break
    await new Promise((r) => setTimeout(r, 50))
  }
  const resultUrl = await ProviderInstance.getComputeResultUrl(url, wallet, jobId, 0)
  const resp = await fetch(resultUrl)
  out.resultStatus = resp.status
  out.result = await resp.text()
  out.stop = await ProviderInstance.computeStop(jobId, url, wallet)
  console.log('COMPAT-RESULT ' + JSON.stringify(out))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
