// Gas of finalizeRound: 10 and 100 votes (printed), and the worst case at MAX_MEMBERS, which must
// stay below the per-transaction gas cap of 2^24 (EIP-7825, Osaka).
const { expect } = require("chai");
const { ethers, network } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { deploy, createTask, stakeAndJoin, signVote, startRoundWhere, isProposer } = require("./helpers");

const TX_GAS_CAP = 2n ** 24n;

/// Joins `joiners`, starts a round in which exactly `voters` of them are voters, has every voter
/// vote (the first `down` of them −1, the rest +1), flags `flag` proposers; returns the receipt.
async function finalizeWith(ctx, { joiners, voters, down, flag, proposerBps }) {
  const { alliance, aggregator } = ctx;
  const taskId = await createTask(ctx, { proposerBps, minStake: 100n, rewardPool: 10n ** 24n, totalRounds: 10n });
  for (let i = 0; i < joiners.length; ++i) await stakeAndJoin(ctx, taskId, joiners[i], 1000n + BigInt(i));
  const { round, seed } = await startRoundWhere(
    ctx,
    taskId,
    (s) => joiners.filter((n) => !isProposer(s, n.address, proposerBps)).length === voters
  );
  const modelHash = ethers.id(`gas round ${voters}`);
  const voting = joiners.filter((n) => !isProposer(seed, n.address, proposerBps));
  const proposers = joiners.filter((n) => isProposer(seed, n.address, proposerBps));
  const votes = [];
  for (let i = 0; i < voting.length; ++i) votes.push(await signVote(alliance, voting[i], taskId, round, modelHash, i < down ? -1 : 1));
  const flagged = proposers.slice(0, flag).map((n) => n.address);
  const tx = await alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, flagged);
  const rc = await tx.wait();
  const r = await alliance.getRound(taskId, round);
  expect(r.accepted).to.equal(true);
  expect(r.rewardPaid).to.be.greaterThan(0n);
  return { gas: rc.gasUsed, proposers: proposers.length, calldata: ethers.dataLength(tx.data) };
}

describe("finalizeRound gas", function () {
  it("10 and 100 votes", async function () {
    const ctx = await loadFixture(deploy);
    const g10 = await finalizeWith(ctx, { joiners: ctx.nodes.slice(0, 12), voters: 10, down: 3, flag: 1, proposerBps: 2000n });
    const g100 = await finalizeWith(ctx, { joiners: ctx.nodes.slice(0, 125), voters: 100, down: 30, flag: 2, proposerBps: 2000n });
    console.log(
      `      finalizeRound gas:  10 votes (12 participants, ${g10.proposers} proposers): ${g10.gas}` +
        `  [calldata ${g10.calldata} B]\n` +
        `      finalizeRound gas: 100 votes (125 participants, ${g100.proposers} proposers): ${g100.gas}` +
        `  [calldata ${g100.calldata} B]\n` +
        `      marginal ≈ ${(g100.gas - g10.gas) / 113n} gas per extra participant`
    );
    const gp = await finalizeWith(ctx, { joiners: ctx.nodes.slice(0, 100), voters: 0, down: 0, flag: 10, proposerBps: 10000n });
    console.log(`      finalizeRound gas:   0 votes (100 participants, all proposers, 10 flagged): ${gp.gas}`);
    expect(g10.gas).to.be.lessThan(500_000n);
    expect(g100.gas).to.be.lessThan(3_000_000n);
  });

  it(`worst case at MAX_MEMBERS (every member a voter, every vote rewarded) fits the 2^24 tx gas cap`, async function () {
    const ctx = await loadFixture(deploy);
    const { alliance, token, aggregator, deployer } = ctx;
    const max = Number(await alliance.MAX_MEMBERS());
    const taskId = await createTask(ctx, { proposerBps: 0n, minStake: 100n, rewardPool: 10n ** 24n, totalRounds: 10n });
    // The members' keys sign their votes; their transactions go out as impersonated accounts
    // (the same gas, without signing each one in JavaScript and estimating it first).
    const wallets = Array.from({ length: max + 1 }, (_, i) => new ethers.Wallet(ethers.id(`gas wallet ${i}`)));
    const senders = [];
    for (const w of wallets) {
      await network.provider.send("hardhat_setBalance", [w.address, "0x56bc75e2d63100000"]); // 100 ETH
      const s = await ethers.getImpersonatedSigner(w.address);
      senders.push(s);
      await token.connect(deployer).mint(w.address, 1000n);
      await token.connect(s).approve(alliance.target, 1000n);
      await alliance.connect(s).stake(taskId, 1000n);
    }
    for (const s of senders.slice(0, max)) await alliance.connect(s).join(taskId);
    await expect(alliance.connect(senders[max]).join(taskId))
      .to.be.revertedWithCustomError(alliance, "TaskFull")
      .withArgs(BigInt(max));

    await alliance.connect(aggregator).startRound(taskId);
    const round = 1n;
    const modelHash = ethers.id("worst case");
    const votes = [];
    for (const w of wallets.slice(0, max)) votes.push(await signVote(alliance, w, taskId, round, modelHash, 1));
    const tx = await alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, [], { gasLimit: TX_GAS_CAP });
    const rc = await tx.wait();
    console.log(`      finalizeRound gas: ${max} votes (${max} participants, 0 proposers, worst case): ${rc.gasUsed}`);
    expect(rc.gasUsed).to.be.lessThan((TX_GAS_CAP * 3n) / 4n);
  });
});
