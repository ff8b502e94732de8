// Reference producer for the C++ signer cross-check (tests/chain/ethers_crosscheck_test.cpp).
// Reads {"cases": [...]} as JSON on stdin, writes {"results": [...]} on stdout, one result per
// case, computed by ethers v6 alone:
//   tx    EIP-1559 transaction      -> unsignedHash, serialized (signed raw), hash, from
//   typed EIP-712 Vote / Update     -> domainSeparator, digest, signature (r‖s‖v), recovered signer
//   abi   AbiCoder.encode           -> encoded
//   rlp   encodeRlp                 -> encoded
//   role  keccak256(solidityPacked(["bytes32","address"])) % 10000 -> hashMod
// Run: NODE_PATH=<repo>/contracts/node_modules node ethers_reference.js < in.json > out.json
"use strict";
const { ethers } = require("ethers");

const TYPES = {
  Vote: [
    { name: "taskId", type: "uint256" },
    { name: "round", type: "uint256" },
    { name: "modelHash", type: "bytes32" },
    { name: "score", type: "int8" },
  ],
  Update: [
    { name: "taskId", type: "uint256" },
    { name: "round", type: "uint256" },
    { name: "updateHash", type: "bytes32" },
    { name: "numSamples", type: "uint256" },
  ],
};

function run(c) {
  switch (c.kind) {
    case "tx": {
      const tx = ethers.Transaction.from({
        type: 2,
        chainId: BigInt(c.chainId),
        nonce: Number(c.nonce),
        maxPriorityFeePerGas: BigInt(c.maxPriorityFeePerGas),
        maxFeePerGas: BigInt(c.maxFeePerGas),
        gasLimit: BigInt(c.gasLimit),
        to: c.to,
        value: BigInt(c.value),
        data: c.data,
        accessList: c.accessList,
      });
      const key = new ethers.SigningKey(c.key);
      tx.signature = key.sign(tx.unsignedHash);
      return { unsignedHash: tx.unsignedHash, serialized: tx.serialized, hash: tx.hash, from: tx.from };
    }
    case "typed": {
      const types = { [c.primaryType]: TYPES[c.primaryType] };
      const domain = { ...c.domain, chainId: BigInt(c.domain.chainId) };
      const digest = ethers.TypedDataEncoder.hash(domain, types, c.message);
      const sig = new ethers.SigningKey(c.key).sign(digest);
      return {
        domainSeparator: ethers.TypedDataEncoder.hashDomain(domain),
        digest,
        signature: sig.serialized,
        recovered: ethers.recoverAddress(digest, sig),
      };
    }
    case "abi":
      return { encoded: ethers.AbiCoder.defaultAbiCoder().encode(c.types, c.values) };
    case "rlp":
      return { encoded: ethers.encodeRlp(c.value) };
    case "role": {
      const h = BigInt(ethers.keccak256(ethers.solidityPacked(["bytes32", "address"], [c.seed, c.address])));
      return { hashMod: Number(h % 10000n) };
    }
    default:
      throw new Error(`unknown case kind ${c.kind}`);
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", () => {
  const { cases } = JSON.parse(input);
  const results = cases.map((c, i) => {
    try {
      return run(c);
    } catch (e) {
      return { error: `case ${i}: ${e.message}` };
    }
  });
  process.stdout.write(JSON.stringify({ ethers: ethers.version, results }) + "\n");
});
