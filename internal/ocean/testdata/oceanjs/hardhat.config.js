// The local chain of chain_test.go: `hardhat node --config hardhat.config.js`
// with CHAIN_ID in the environment (8996, Ocean's development chain, by
// default). Hardhat's well-known development accounts; every transaction
// is mined at once in its own block.
module.exports = {
  networks: {
    hardhat: {
      chainId: Number(process.env.CHAIN_ID || 8996),
      mining: { auto: true },
      // A reverted transaction is mined (status 0) and its hash returned, as
      // on a real chain, instead of failing eth_sendRawTransaction.
      throwOnTransactionFailures: false,
    },
  },
}
