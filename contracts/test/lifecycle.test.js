// A whole task, three rounds (accepted, rejected, accepted), membership changes between and during
// rounds, claims and withdrawals; every token balance checked to the wei against the documented
// formula (helpers.settle), and token conservation checked after every step.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const { deploy, createTask, stakeAndJoin, signVote, startRoundWithRoles, settle } = require("./helpers");

describe("AllianceTask lifecycle", function () {
  it("runs a three-round task end to end with exact balances", async function () {
    const ctx = await loadFixture(deploy);
    const { alliance, token, aggregator, creator, nodes: signers } = ctx;
    const POOL = 1_000_000n;
    const params = { rewardPool: POOL, totalRounds: 3n, minStake: 100n, proposerBps: 4000n, slashBps: 1000n };
    const initialModel = ethers.id("model: round 0");

    const creatorStart = await token.balanceOf(creator.address);
    const taskId = await createTask(ctx, { ...params, initialModelHash: initialModel });
    expect(taskId).to.equal(1n);
    expect(await token.balanceOf(creator.address)).to.equal(creatorStart); // minted then pulled

    // Book-keeping of what every account should hold (in the contract and in its wallet).
    const names = ["a", "b", "c", "d", "e", "f", "g"];
    const stakes = { a: 100n, b: 250n, c: 400n, d: 1000n, e: 700n, f: 333n, g: 500n };
    const N = {};
    names.forEach((id, i) => (N[id] = { id, signer: signers[i], stake: 0n, reward: 0n, minted: 0n }));
    let pool = POOL;
    let creatorBalance = 0n;

    async function checkConservation() {
      let held = pool + creatorBalance;
      for (const n of Object.values(N)) {
        expect(await alliance.stakeOf(taskId, n.signer.address), `${n.id} stake`).to.equal(n.stake);
        expect(await alliance.rewardOf(taskId, n.signer.address), `${n.id} reward`).to.equal(n.reward);
        held += n.stake + n.reward;
      }
      const t = await alliance.getTask(taskId);
      expect(t.pool).to.equal(pool);
      expect(t.creatorBalance).to.equal(creatorBalance);
      expect(await token.balanceOf(alliance.target)).to.equal(held);
    }

    async function join(id, amount) {
      await stakeAndJoin(ctx, taskId, N[id].signer, amount);
      N[id].stake += amount;
      N[id].minted += amount;
    }
    for (const id of ["a", "b", "c", "d", "e", "f"]) await join(id, stakes[id]);
    await checkConservation();

    // One round: roles as given, votes {id: ±1}, flagged proposers; expected from the formula.
    async function playRound(roles, votes, flagged, roundsLeft) {
      const participants = Object.entries(roles).map(([id, role]) => ({ ...N[id], role }));
      const { round } = await startRoundWithRoles(ctx, taskId, participants, params.proposerBps);
      expect([...(await alliance.participants(taskId))]).to.have.members(participants.map((p) => p.signer.address));
      const modelHash = ethers.id(`model: round ${round}`);
      const signed = [];
      for (const [id, score] of Object.entries(votes)) {
        signed.push(await signVote(alliance, N[id].signer, taskId, round, modelHash, score));
      }
      const model = settle({
        pool,
        roundsLeft,
        slashBps: params.slashBps,
        nodes: participants.map((p) => ({
          id: p.id,
          role: p.role,
          stake: p.stake,
          flagged: flagged.includes(p.id),
          vote: votes[p.id] ?? 0,
        })),
      });
      const tx = alliance
        .connect(aggregator)
        .finalizeRound(taskId, round, modelHash, signed, flagged.map((id) => N[id].signer.address));
      await expect(tx)
        .to.emit(alliance, "RoundFinalized")
        .withArgs(taskId, round, modelHash, model.accepted, model.voteSum, model.paid, model.slashed, model.toPool,
          model.toCreator);
      for (const p of participants) {
        const { reward, slash } = model.nodes[p.id];
        if (reward > 0n) await expect(tx).to.emit(alliance, "Rewarded").withArgs(taskId, round, p.signer.address, reward);
        if (slash > 0n) await expect(tx).to.emit(alliance, "Slashed").withArgs(taskId, round, p.signer.address, slash);
        N[p.id].reward += reward;
        N[p.id].stake -= slash;
      }
      pool = model.poolAfter;
      creatorBalance += model.creatorCredit;
      await checkConservation();
      return { round, modelHash, model };
    }

    // Round 1: accepted; b is flagged (no reward, no slash); e voted against and is slashed; f abstains.
    const r1 = await playRound(
      { a: "proposer", b: "proposer", c: "voter", d: "voter", e: "voter", f: "voter" },
      { c: 1, d: 1, e: -1 },
      ["b"],
      3n
    );
    expect(r1.model.accepted).to.equal(true);
    expect(r1.model.nodes.e.slash).to.equal(70n);
    expect((await alliance.getTask(taskId)).modelHash).to.equal(r1.modelHash);

    // Between rounds: f leaves and withdraws everything; g stakes and joins.
    await alliance.connect(N.f.signer).leave(taskId);
    await alliance.connect(N.f.signer).unstake(taskId, N.f.stake);
    N.f.stake = 0n;
    await join("g", stakes.g);
    await checkConservation();

    // Round 2: rejected (d and e vote against): every proposer slashed, +1 voters slashed, -1 rewarded.
    const r2 = await playRound(
      { a: "proposer", b: "voter", c: "proposer", d: "voter", e: "voter", g: "voter" },
      { b: 1, d: -1, e: -1, g: 1 },
      [],
      2n
    );
    expect(r2.model.accepted).to.equal(false);
    expect((await alliance.getTask(taskId)).modelHash).to.equal(r1.modelHash); // stays at the last accepted

    // Round 3 (last): a late joiner h joins while the round is open: not a participant, free to leave.
    const h = { id: "h", signer: signers[7], stake: 0n, reward: 0n, minted: 0n };
    N.h = h;
    const roles3 = { a: "voter", b: "proposer", c: "voter", d: "proposer", e: "voter", g: "voter" };
    const participants3 = Object.entries(roles3).map(([id, role]) => ({ ...N[id], role }));
    const { round: round3 } = await startRoundWithRoles(ctx, taskId, participants3, params.proposerBps);
    await join("h", 150n);
    expect(await alliance.isParticipant(taskId, h.signer.address)).to.equal(false);
    expect(await alliance.isParticipant(taskId, N.a.signer.address)).to.equal(true);
    await alliance.connect(h.signer).leave(taskId);
    await alliance.connect(h.signer).unstake(taskId, 150n);
    h.stake = 0n;
    await checkConservation();

    const modelHash3 = ethers.id("model: round 3");
    const votes3 = { a: 1, c: -1, e: 1 };
    const signed3 = [];
    for (const [id, score] of Object.entries(votes3)) {
      signed3.push(await signVote(alliance, N[id].signer, taskId, round3, modelHash3, score));
    }
    const model3 = settle({
      pool,
      roundsLeft: 1n,
      slashBps: params.slashBps,
      nodes: participants3.map((p) => ({ id: p.id, role: p.role, stake: p.stake, flagged: false, vote: votes3[p.id] ?? 0 })),
    });
    const tx3 = alliance.connect(aggregator).finalizeRound(taskId, round3, modelHash3, signed3, []);
    await expect(tx3).to.emit(alliance, "TaskEnded").withArgs(taskId, model3.creatorCredit - model3.toCreator);
    for (const p of participants3) {
      N[p.id].reward += model3.nodes[p.id].reward;
      N[p.id].stake -= model3.nodes[p.id].slash;
    }
    pool = 0n;
    creatorBalance += model3.creatorCredit;
    await checkConservation();
    expect(model3.accepted).to.equal(true);

    const t = await alliance.getTask(taskId);
    expect(t.finalizedRounds).to.equal(3n);
    expect(t.modelHash).to.equal(modelHash3);
    expect(await alliance.roundReward(taskId)).to.equal(0n);
    await expect(alliance.connect(aggregator).startRound(taskId)).to.be.revertedWithCustomError(alliance, "TaskHasEnded");
    await expect(alliance.connect(N.a.signer).join(taskId)).to.be.revertedWithCustomError(alliance, "TaskHasEnded");

    // Everybody claims and withdraws (joined nodes may withdraw all once the task has ended).
    for (const n of Object.values(N)) {
      if (n.reward > 0n) {
        await expect(alliance.connect(n.signer).claim(taskId))
          .to.emit(alliance, "Claimed")
          .withArgs(taskId, n.signer.address, n.reward);
        n.reward = 0n;
      } else {
        await expect(alliance.connect(n.signer).claim(taskId)).to.be.revertedWithCustomError(alliance, "NothingToClaim");
      }
      if (n.stake > 0n) await alliance.connect(n.signer).unstake(taskId, n.stake);
    }
    await expect(alliance.connect(creator).claim(taskId))
      .to.emit(alliance, "Claimed")
      .withArgs(taskId, creator.address, creatorBalance);
    expect(await token.balanceOf(alliance.target)).to.equal(0n);

    // Final wallets: minted stake − all slashes + all rewards, per the rounds above.
    const expected = {};
    for (const id of Object.keys(N)) expected[id] = N[id].minted;
    for (const m of [r1.model, r2.model, model3]) {
      for (const [id, { reward, slash }] of Object.entries(m.nodes)) expected[id] += reward - slash;
    }
    for (const n of Object.values(N)) {
      expect(await token.balanceOf(n.signer.address), `${n.id} wallet`).to.equal(expected[n.id]);
    }
    const paidOut = [r1.model, r2.model, model3].reduce((s, m) => s + m.paid, 0n);
    const slashedTotal = [r1.model, r2.model, model3].reduce((s, m) => s + m.slashed, 0n);
    // The creator gets back all that was not paid to nodes plus every slash (10% per round, the
    // pool's 90% with the leftover after the last round).
    expect(creatorBalance).to.equal(POOL - paidOut + slashedTotal);
    expect(await token.balanceOf(creator.address)).to.equal(creatorStart + POOL - paidOut + slashedTotal);
  });
});
