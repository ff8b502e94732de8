// The two functions the C++ server recomputes: the EIP-712 vote digest and the role function.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { VOTE_TYPES, deploy, createTask, stakeAndJoin, domain, isProposer } = require("./helpers");

const VOTE_TYPE_STRING = "Vote(uint256 taskId,uint256 round,bytes32 modelHash,int8 score)";

describe("EIP-712 vote digest", function () {
  it("type hash is keccak256 of the exact type string", async function () {
    const { alliance } = await loadFixture(deploy);
    expect(ethers.TypedDataEncoder.from(VOTE_TYPES).encodeType("Vote")).to.equal(VOTE_TYPE_STRING);
    expect(await alliance.VOTE_TYPEHASH()).to.equal(ethers.id(VOTE_TYPE_STRING));
  });

  it("domain: name Murmuration, version 1, chain id 31337, this contract (ERC-5267 too)", async function () {
    const { alliance } = await loadFixture(deploy);
    const d = await domain(alliance);
    expect(d.chainId).to.equal(31337n);
    expect(await alliance.DOMAIN_SEPARATOR()).to.equal(ethers.TypedDataEncoder.hashDomain(d));
    // By hand: keccak256(abi.encode(typeHash(EIP712Domain), keccak(name), keccak(version), chainId, contract)).
    const domainTypeHash = ethers.id("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    const byHand = ethers.keccak256(
      ethers.AbiCoder.defaultAbiCoder().encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [domainTypeHash, ethers.id("Murmuration"), ethers.id("1"), 31337n, alliance.target]
      )
    );
    expect(await alliance.DOMAIN_SEPARATOR()).to.equal(byHand);
    const e = await alliance.eip712Domain();
    expect(e.name).to.equal("Murmuration");
    expect(e.version).to.equal("1");
    expect(e.chainId).to.equal(31337n);
    expect(e.verifyingContract).to.equal(alliance.target);
  });

  it("voteDigest equals ethers' TypedDataEncoder.hash and the by-hand encoding", async function () {
    const { alliance } = await loadFixture(deploy);
    const d = await domain(alliance);
    const ds = await alliance.DOMAIN_SEPARATOR();
    const coder = ethers.AbiCoder.defaultAbiCoder();
    const values = [
      [1n, 1n, ethers.ZeroHash, 1],
      [1n, 1n, ethers.ZeroHash, -1],
      [7n, 123456n, ethers.id("model"), -1],
      [2n ** 256n - 1n, 2n ** 64n, ethers.id("x"), 1],
    ];
    for (const [taskId, round, modelHash, score] of values) {
      const want = ethers.TypedDataEncoder.hash(d, VOTE_TYPES, { taskId, round, modelHash, score });
      expect(await alliance.voteDigest(taskId, round, modelHash, score)).to.equal(want);
      // int8 is sign-extended to 32 bytes: -1 encodes as 0xff…ff.
      const structHash = ethers.keccak256(
        coder.encode(["bytes32", "uint256", "uint256", "bytes32", "int256"], [ethers.id(VOTE_TYPE_STRING), taskId, round, modelHash, score])
      );
      expect(ethers.keccak256(ethers.concat(["0x1901", ds, structHash]))).to.equal(want);
    }
  });

  it("a signature by a raw private key over voteDigest recovers to its address", async function () {
    const { alliance } = await loadFixture(deploy);
    const wallet = new ethers.Wallet(ethers.id("murmuration test key"));
    const digest = await alliance.voteDigest(3n, 9n, ethers.id("m"), 1);
    const sig = wallet.signingKey.sign(digest);
    expect(sig.v === 27 || sig.v === 28).to.equal(true);
    expect(ethers.recoverAddress(digest, sig)).to.equal(wallet.address);
    const typed = await wallet.signTypedData(await domain(alliance), VOTE_TYPES, { taskId: 3n, round: 9n, modelHash: ethers.id("m"), score: 1 });
    expect(typed).to.equal(sig.serialized); // RFC 6979: same key, same digest, same signature
  });
});

describe("roleOf", function () {
  it("uint256(keccak256(seed ‖ node)) % 10000 < proposerBps, for many nodes and fractions", async function () {
    const ctx = await loadFixture(deploy);
    const { alliance, aggregator, nodes } = ctx;
    const addrs = Array.from({ length: 200 }, (_, i) => ethers.getAddress(ethers.dataSlice(ethers.id(`node ${i}`), 12)));
    for (const bps of [0n, 1n, 2500n, 5000n, 9999n, 10000n]) {
      const taskId = await createTask(ctx, { proposerBps: bps });
      await stakeAndJoin(ctx, taskId, nodes[0], 100n);
      await alliance.connect(aggregator).startRound(taskId);
      const seed = (await alliance.getRound(taskId, 1n)).seed;
      let proposers = 0;
      for (const a of addrs) {
        // The 52-byte preimage built by hand, independent of solidityPacked.
        const h = BigInt(ethers.keccak256(ethers.concat([seed, a])));
        const want = h % 10000n < bps;
        expect(isProposer(seed, a, bps)).to.equal(want);
        expect(await alliance.roleOf(taskId, 1n, a)).to.equal(want ? 1n : 0n);
        if (want) ++proposers;
      }
      if (bps === 0n) expect(proposers).to.equal(0);
      if (bps === 10000n) expect(proposers).to.equal(addrs.length);
      if (bps === 5000n) expect(proposers).to.be.within(70, 130); // non-trivial split
    }
  });

  it("a fixed vector (seed 0x11…11, node 0x22…22)", function () {
    const seed = "0x" + "11".repeat(32);
    const node = "0x" + "22".repeat(20);
    const h = "0xdde12d89b7c536e911cc4f4429659ffbad6be3dbfb805af14829e8b78dd87eee";
    expect(ethers.keccak256(ethers.solidityPacked(["bytes32", "address"], [seed, node]))).to.equal(h);
    expect(BigInt(h) % 10000n).to.equal(9550n); // proposer iff proposerBps > 9550
    expect(isProposer(seed, node, 9551n)).to.equal(true);
    expect(isProposer(seed, node, 9550n)).to.equal(false);
  });
});
