// Issue 16, attacks 1-7, replayed against AllianceTaskV2: each is refused or its harm bounded as
// contracts/README.md's trust model says. (The same attacks succeed against AllianceTask.)
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const h = require("./helpersV2");

const BIG = 30000n;
const SYBIL = 100n;

async function fixture() {
  const ctx = await h.deployV2();
  return ctx;
}

describe("AllianceTaskV2 against issue 16's attacks", function () {
  it("1: the aggregator cannot choose which votes count; closing is permissionless", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { rewardPool: 900_000n, proposerBps: 4000n });
    const honest = nodes.slice(0, 7);
    const sybil = nodes[7];
    for (const n of honest) await h.stakeJoin(ctx, taskId, n, BIG);
    await h.stakeJoin(ctx, taskId, sybil, SYBIL);
    const d = await h.drawUntil(ctx, taskId, (d) => {
      const vs = d.voters.map((v) => v.addr);
      return vs.includes(sybil.address) && vs.length >= 3 && d.proposers.length >= 2;
    });
    // The proposers commit; the aggregator posts a candidate with every update.
    for (const p of d.proposers) await v2.connect(ctx.signers.find((s) => s.address === p.addr)).commitUpdate(taskId, d.round, ethers.id(`u ${p.addr}`));
    await v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("good model"), h.bitmap(d.proposers.map((p) => p.index), d.parts.length));
    // Every voter commits on its own; the honest ones score +500, the Sybil −10000.
    const votes = new Map();
    for (const v of d.voters) votes.set(v.addr, { score: v.addr === sybil.address ? -10000 : 500 });
    const by = (a) => ctx.signers.find((s) => s.address === a);
    const salt = ethers.id("s");
    for (const [a, v] of votes) await v2.connect(by(a)).commitVote(taskId, d.round, h.commitmentOf(taskId, d.round, a, v.score, [], salt));
    // Votes are hidden until the commit phase ends: only the commitment is on chain.
    const hidden = await v2.entryOf(taskId, d.round, d.voters[0].addr);
    expect(hidden.revealed).to.equal(false);
    expect(hidden.score).to.equal(0n);
    // Only the Sybil reveals; the aggregator (or anyone) cannot close the round before the reveal window ends.
    await v2.connect(sybil).revealVote(taskId, d.round, -10000, [], salt);
    await expect(v2.connect(aggregator).finalizeRound(taskId)).to.be.revertedWithCustomError(v2, "TooEarly");
    for (const [a, v] of votes) if (a !== sybil.address) await v2.connect(by(a)).revealVote(taskId, d.round, v.score, [], salt);
    // Every vote revealed: an honest node closes the round at once.
    const rc = await (await v2.connect(honest[0]).finalizeRound(taskId)).wait();
    const r = await v2.getRound(taskId, d.round);
    expect(r.state).to.equal(4n); // Finalized
    expect(r.accepted).to.equal(true);
    expect(r.median).to.equal(500n);
    // The Sybil, far from the consensus, is slashed and paid nothing; every honest proposer is paid.
    expect((await v2.nodeInfo(taskId, sybil.address)).stake).to.equal(SYBIL - SYBIL / 10n);
    expect((await v2.nodeInfo(taskId, sybil.address)).reward).to.equal(0n);
    for (const p of d.proposers) expect((await v2.nodeInfo(taskId, p.addr)).reward).to.be.greaterThan(0n);
    // There is no entry point through which the aggregator submits or drops someone else's vote.
    for (const f of v2.interface.fragments.filter((f) => f.type === "function" && f.stateMutability !== "view" && f.stateMutability !== "pure"))
      for (const i of f.inputs) expect(i.type).to.not.match(/^tuple\(address,int8,bytes\)/);
    expect(rc.status).to.equal(1);
  });

  it("2: no quorum abandons without slashing; flags are not the aggregator's word", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { rewardPool: 900_000n, totalRounds: 3n, proposerBps: 5000n });
    const honest = nodes.slice(0, 6);
    const sybil = nodes[6];
    for (const n of honest) await h.stakeJoin(ctx, taskId, n, BIG);
    await h.stakeJoin(ctx, taskId, sybil, SYBIL);
    // Three rounds in which nobody votes: each is abandoned at finalize, nothing moves.
    for (let k = 0; k < 3; ++k) {
      const d = await h.openAndDraw(ctx, taskId);
      const commit = new Map(d.proposers.map((p) => [p.addr, ethers.id(`u${k} ${p.addr}`)]));
      const rc = await h.playRound(ctx, taskId, d, { commit, include: d.proposers.slice(0, 1).map((p) => p.addr), votes: new Map() });
      const ev = rc.logs.map((l) => v2.interface.parseLog(l)).find((e) => e && e.name === "RoundAbandoned");
      expect(ev.args.reason).to.equal(2n); // no quorum
    }
    const t = await v2.getTask(taskId);
    expect(t.pool).to.equal(900_000n);
    expect(t.finalizedRounds).to.equal(0n);
    for (const n of honest) expect((await v2.nodeInfo(taskId, n.address)).stake).to.equal(BIG);
    // The aggregator cannot call a committed proposer absent, nor include one that never committed.
    const d = await h.drawUntil(ctx, taskId, (d) => d.proposers.some((p) => p.addr === sybil.address) && d.proposers.length >= 2 && d.voters.length >= 2);
    const others = d.proposers.filter((p) => p.addr !== sybil.address);
    const by = (a) => ctx.signers.find((s) => s.address === a);
    await v2.connect(sybil).commitUpdate(taskId, d.round, ethers.id("sybil update"));
    for (const p of others.slice(1)) await v2.connect(by(p.addr)).commitUpdate(taskId, d.round, ethers.id(`u ${p.addr}`));
    await h.increase(61);
    await expect(
      v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("m"), h.bitmap([others[0].index], d.parts.length))
    ).to.be.revertedWithCustomError(v2, "BadBitmap");
    // It includes only the Sybil's update; the voters object to it and score the candidate down.
    const sIdx = d.proposers.find((p) => p.addr === sybil.address).index;
    await v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("sybil-only model"), h.bitmap([sIdx], d.parts.length));
    const salt = ethers.id("s2");
    const obj = h.bitmap([sIdx], d.parts.length);
    for (const v of d.voters) await v2.connect(by(v.addr)).commitVote(taskId, d.round, h.commitmentOf(taskId, d.round, v.addr, -3000, obj, salt));
    for (const v of d.voters) await v2.connect(by(v.addr)).revealVote(taskId, d.round, -3000, obj, salt);
    await v2.connect(nodes[9]).finalizeRound(taskId);
    // Excluded honest proposers lose nothing; the absent one (others[0], provably absent) is slashed;
    // the Sybil, objected to by the voters' majority, is slashed and gets no reward.
    for (const p of others.slice(1)) expect((await v2.nodeInfo(taskId, p.addr)).stake).to.equal(BIG);
    expect((await v2.nodeInfo(taskId, others[0].addr)).stake).to.equal(BIG - BIG / 10n);
    expect((await v2.nodeInfo(taskId, sybil.address)).stake).to.equal(SYBIL - SYBIL / 10n);
    expect((await v2.nodeInfo(taskId, sybil.address)).reward).to.equal(0n);
    // The round paid at most R + slashes, only to the voters at the consensus.
    const r = await v2.getRound(taskId, d.round);
    expect(r.paid).to.be.at.most(900_000n / 3n + r.slashed);
  });

  it("3: roles cannot be ground: they come from a block after membership froze", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, nodes } = ctx;
    const grinder = await (await ethers.getContractFactory("RoleGrinder")).deploy();
    const taskId = await h.createTaskV2(ctx, { aggregator: grinder.target });
    for (const n of nodes.slice(0, 4)) await h.stakeJoin(ctx, taskId, n, 1000n);
    await h.increase(61);
    // Open and read the role in one transaction: the seed block does not exist yet.
    await expect(grinder.grind(v2.target, taskId, nodes[0].address, 1)).to.be.revertedWithCustomError(v2, "TooEarly");
    // Opened normally: no role is defined before drawRoles, joins after the open are not participants.
    const agg = await ethers.getImpersonatedSigner(grinder.target);
    await ethers.provider.send("hardhat_setBalance", [grinder.target, "0x56BC75E2D63100000"]);
    await v2.connect(agg).openRound(taskId);
    await expect(v2.roleOf(taskId, 1, nodes[0].address)).to.be.revertedWithCustomError(v2, "WrongState");
    await expect(v2.drawRoles(taskId)).to.be.revertedWithCustomError(v2, "TooEarly");
    await h.stakeJoin(ctx, taskId, nodes[5], 1000n); // mines the seed block too
    await v2.connect(nodes[5]).drawRoles(taskId); // anyone draws
    expect((await v2.participants(taskId)).length).to.equal(4);
    await expect(v2.connect(nodes[5]).commitUpdate(taskId, 1, ethers.id("x"))).to.be.revertedWithCustomError(v2, "NotParticipant");
    // The aggregator cannot abandon an unlucky draw: only after the post deadline, and then the exit window runs.
    await expect(v2.connect(agg).abandonRound(taskId)).to.be.revertedWithCustomError(v2, "TooEarly");
  });

  it("3b: a seed block that nobody drew within 256 blocks abandons the round", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx);
    for (const n of nodes.slice(0, 3)) await h.stakeJoin(ctx, taskId, n, 1000n);
    await h.increase(61);
    await v2.connect(aggregator).openRound(taskId);
    await expect(v2.abandonRound(taskId)).to.be.revertedWithCustomError(v2, "TooEarly");
    await h.mine(300);
    await expect(v2.drawRoles(taskId)).to.be.revertedWithCustomError(v2, "TooLate");
    await v2.connect(nodes[0]).abandonRound(taskId);
    expect((await v2.getRound(taskId, 1)).state).to.equal(5n);
  });

  it("4: no stake is held hostage: abandon-and-restart is impossible, every close opens an exit window", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, token, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { windows: { unbonding: 1000n } });
    for (const n of nodes.slice(0, 4)) await h.stakeJoin(ctx, taskId, n, 1000n);
    const d = await h.openAndDraw(ctx, taskId);
    await expect(v2.connect(nodes[0]).leave(taskId)).to.be.revertedWithCustomError(v2, "NodeBound");
    // No candidate by the post deadline: anyone abandons; the aggregator cannot reopen at once.
    await h.increase(121);
    await v2.connect(nodes[1]).abandonRound(taskId);
    await expect(v2.connect(aggregator).openRound(taskId)).to.be.revertedWithCustomError(v2, "ExitWindow");
    // Inside the exit window the node leaves and unstakes everything.
    await v2.connect(nodes[0]).leave(taskId);
    await v2.connect(nodes[0]).unstake(taskId, 1000n);
    await expect(v2.connect(nodes[0]).withdraw(taskId)).to.be.revertedWithCustomError(v2, "NotUnlocked");
    await h.increase(1000);
    await v2.connect(nodes[0]).withdraw(taskId);
    expect(await token.balanceOf(nodes[0].address)).to.equal(1000n);
    expect(d.round).to.equal(1n);
  });

  it("5: a lost aggregator key or an empty task does not lock the pool", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, token, creator, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { rewardPool: 777n, windows: { taskTimeout: 10000n } });
    for (const n of nodes.slice(0, 3)) await h.stakeJoin(ctx, taskId, n, 1000n);
    // The creator rotates the aggregator (only the creator).
    await expect(v2.connect(aggregator).setAggregator(taskId, nodes[5].address)).to.be.revertedWithCustomError(v2, "NotCreator");
    await v2.connect(creator).setAggregator(taskId, nodes[5].address);
    await h.increase(61);
    await expect(v2.connect(aggregator).openRound(taskId)).to.be.revertedWithCustomError(v2, "NotAggregator");
    await h.openAndDraw({ ...ctx, aggregator: nodes[5] }, taskId, nodes[5]);
    // Cancel: never while a round is in flight, never before the idle timeout.
    await expect(v2.connect(creator).cancelTask(taskId)).to.be.revertedWithCustomError(v2, "RoundInFlight");
    await h.increase(121);
    await v2.abandonRound(taskId);
    await expect(v2.connect(creator).cancelTask(taskId)).to.be.revertedWithCustomError(v2, "TaskNotIdle");
    await expect(v2.connect(nodes[0]).cancelTask(taskId)).to.be.revertedWithCustomError(v2, "NotCreator");
    await h.increase(10000);
    await v2.connect(creator).cancelTask(taskId);
    const before = await token.balanceOf(creator.address);
    await v2.connect(creator).claim(taskId);
    expect((await token.balanceOf(creator.address)) - before).to.equal(777n);
    // Stakes are untouched and free after the end.
    await v2.connect(nodes[1]).unstake(taskId, 1000n);
    await expect(v2.connect(nodes[6]).join(taskId)).to.be.revertedWithCustomError(v2, "TaskHasEnded");
    await expect(v2.connect(nodes[6]).stake(taskId, 1n)).to.be.revertedWithCustomError(v2, "TaskHasEnded");
  });

  it("6: a Sybil swarm cannot fill the task: admission is stake-ranked", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { maxMembers: 10n });
    const swarm = nodes.slice(0, 10);
    for (const s of swarm) await h.stakeJoin(ctx, taskId, s, 100n);
    const honest = nodes[10];
    await h.stakeJoin(ctx, taskId, honest, 5000n, false);
    await expect(v2.connect(honest).join(taskId)).to.be.revertedWithCustomError(v2, "TaskFull");
    await v2.connect(honest).joinDisplacing(taskId, swarm[3].address);
    expect((await v2.nodeInfo(taskId, honest.address)).joined).to.equal(true);
    expect((await v2.nodeInfo(taskId, swarm[3].address)).joined).to.equal(false);
    // The displaced Sybil cannot come back by displacing someone with as much stake or more.
    await expect(v2.connect(swarm[3]).joinDisplacing(taskId, honest.address)).to.be.revertedWithCustomError(v2, "CannotDisplace");
    await expect(v2.connect(swarm[3]).joinDisplacing(taskId, swarm[4].address)).to.be.revertedWithCustomError(v2, "CannotDisplace");
    // Nobody is displaced from a round in flight.
    await h.openAndDraw(ctx, taskId);
    const late = nodes[11];
    await h.stakeJoin(ctx, taskId, late, 9000n, false);
    await expect(v2.connect(late).joinDisplacing(taskId, swarm[0].address)).to.be.revertedWithCustomError(v2, "NodeBound");
  });

  it("7a: reward credits beyond 2^128 spill instead of reverting", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, token, nodes } = ctx;
    const MAX = 2n ** 128n - 1n;
    const taskId = await h.createTaskV2(ctx, { rewardPool: MAX, totalRounds: 1n, slashBps: 10000n, proposerBps: 5000n, minStake: 10n ** 30n });
    const big = nodes.slice(0, 4);
    for (const n of big) await h.stakeJoin(ctx, taskId, n, 10n ** 30n);
    const d = await h.drawUntil(ctx, taskId, (d) => d.voters.length === 2);
    // Two equal voters 10100 apart: the one at the (lower) median wins alone; the other is slashed
    // 100 %, as are the absent proposers, so the pot is the 2^128 − 1 pool plus 10^30 per loser.
    const votes = new Map(d.voters.map((v, i) => [v.addr, { score: i === 0 ? -10000 : 100 }]));
    await h.playRound(ctx, taskId, d, { votes });
    const r = await v2.getRound(taskId, d.round);
    expect(r.state).to.equal(4n);
    expect(r.slashed).to.equal(10n ** 30n * BigInt(1 + d.proposers.length));
    const winners = [];
    for (const v of d.voters) if ((await v2.nodeInfo(taskId, v.addr)).reward > 0n) winners.push(v);
    expect(winners.length).to.equal(1);
    const paid = (await v2.nodeInfo(taskId, winners[0].addr)).reward;
    expect(paid).to.equal(r.paid);
    expect(paid).to.be.greaterThan(MAX); // AllianceTask's uint104 field would have reverted here
    expect(r.paid + (await v2.getTask(taskId)).creatorBalance).to.equal(MAX + r.slashed);
    for (const w of winners) {
      const owed = (await v2.nodeInfo(taskId, w.addr)).reward;
      const before = await token.balanceOf(w.addr);
      await v2.connect(ctx.signers.find((s) => s.address === w.addr)).claim(taskId);
      expect((await token.balanceOf(w.addr)) - before).to.equal(owed);
    }
  });

  it("7b: proposerBps 0 and 10000 and other degenerate parameters are refused", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, token, aggregator } = ctx;
    const bad = [
      { proposerBps: 0n },
      { proposerBps: 10000n },
      { quorumBps: 0n },
      { maxMembers: 501n },
      { maxMembers: 1n },
      { toleranceBps: 20001n },
      { rewardPool: 2n ** 128n },
      { windows: { exit: 11n } },
      { windows: { commit: 0n } },
      { windows: { taskTimeout: 100n } },
    ];
    for (const over of bad)
      await expect(v2.createTask(h.paramsV2(token, aggregator, over)), JSON.stringify(over, (k, v) => (typeof v === "bigint" ? String(v) : v))).to.be.revertedWithCustomError(v2, "BadTaskParams");
  });

  it("7c: stake cannot leave before later-found misbehaviour is slashed (unbonding + equivocation)", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { slashBps: 5000n, windows: { unbonding: 5000n } });
    for (const n of nodes.slice(0, 5)) await h.stakeJoin(ctx, taskId, n, 1000n);
    const d = await h.drawUntil(ctx, taskId, (d) => d.proposers.length >= 1 && d.voters.length >= 2);
    const cheat = ctx.signers.find((s) => s.address === d.proposers[0].addr);
    const commit = new Map(d.proposers.map((p) => [p.addr, ethers.id(`u ${p.addr}`)]));
    await h.playRound(ctx, taskId, d, { commit, include: d.proposers.map((p) => p.addr), votes: new Map(d.voters.map((v) => [v.addr, { score: 100 }])) });
    // The cheat leaves and unstakes at once: its tokens unbond instead of leaving.
    await h.increase(61);
    await v2.connect(cheat).leave(taskId);
    const st = (await v2.nodeInfo(taskId, cheat.address)).stake;
    await v2.connect(cheat).unstake(taskId, st);
    // Later, the aggregator shows an Update it signed for that round with another hash.
    const { chainId } = await ethers.provider.getNetwork();
    const domain = { name: "Murmuration", version: "1", chainId, verifyingContract: v2.target };
    const types = { Update: [{ name: "taskId", type: "uint256" }, { name: "round", type: "uint256" }, { name: "updateHash", type: "bytes32" }, { name: "numSamples", type: "uint256" }] };
    const other = ethers.id("what it really sent");
    const sig = await cheat.signTypedData(domain, types, { taskId, round: d.round, updateHash: other, numSamples: 60 });
    expect(await v2.updateDigest(taskId, d.round, other, 60)).to.equal(ethers.TypedDataEncoder.hash(domain, types, { taskId, round: d.round, updateHash: other, numSamples: 60 }));
    // Its committed hash is no equivocation; a forged signature is refused.
    const honestSig = await cheat.signTypedData(domain, types, { taskId, round: d.round, updateHash: commit.get(cheat.address), numSamples: 60 });
    await expect(v2.reportEquivocation(taskId, d.round, cheat.address, commit.get(cheat.address), 60, honestSig)).to.be.revertedWithCustomError(v2, "NotEquivocation");
    await expect(v2.reportEquivocation(taskId, d.round, cheat.address, other, 61, sig)).to.be.revertedWithCustomError(v2, "BadSignature");
    const poolBefore = (await v2.getTask(taskId)).pool;
    await v2.connect(nodes[9]).reportEquivocation(taskId, d.round, cheat.address, other, 60, sig);
    const info = await v2.nodeInfo(taskId, cheat.address);
    expect(info.pending).to.equal(st - st / 2n);
    expect((await v2.getTask(taskId)).pool).to.equal(poolBefore + st / 2n);
    await expect(v2.reportEquivocation(taskId, d.round, cheat.address, other, 60, sig)).to.be.revertedWithCustomError(v2, "NotEquivocation");
    // After the unbonding period the rest is withdrawn and the report window is closed.
    await h.increase(5000);
    await v2.connect(cheat).withdraw(taskId);
    const other2 = ethers.id("x2");
    const sig2 = await cheat.signTypedData(domain, types, { taskId, round: d.round, updateHash: other2, numSamples: 1 });
    await expect(v2.reportEquivocation(taskId, d.round, cheat.address, other2, 1, sig2)).to.be.revertedWithCustomError(v2, "TooLate");
  });

  it("beyond 1-7: copied commitments, proposers revealing as voters, selective reveals, wrong reveals", async function () {
    const ctx = await loadFixture(fixture);
    const { v2, aggregator, nodes } = ctx;
    const taskId = await h.createTaskV2(ctx, { quorumBps: 1000n });
    for (const n of nodes.slice(0, 8)) await h.stakeJoin(ctx, taskId, n, 1000n);
    const d = await h.drawUntil(ctx, taskId, (d) => d.voters.length >= 4 && d.proposers.length >= 1);
    const by = (a) => ctx.signers.find((s) => s.address === a);
    const [honest, copier, shy, clumsy] = d.voters.map((v) => by(v.addr));
    const prop = by(d.proposers[0].addr);
    for (const p of d.proposers) await v2.connect(by(p.addr)).commitUpdate(taskId, d.round, ethers.id(`u ${p.addr}`));
    await v2.connect(aggregator).postCandidate(taskId, d.round, ethers.id("m"), h.bitmap(d.proposers.map((p) => p.index), d.parts.length));
    const salt = ethers.id("salt");
    const c = h.commitmentOf(taskId, d.round, honest.address, 700, [], salt);
    await v2.connect(honest).commitVote(taskId, d.round, c);
    // The copier commits the honest voter's commitment: it binds the honest voter's address, so the
    // copier can never reveal it (and is slashed as unrevealed).
    await v2.connect(copier).commitVote(taskId, d.round, c);
    await v2.connect(shy).commitVote(taskId, d.round, h.commitmentOf(taskId, d.round, shy.address, -9000, [], salt));
    await v2.connect(clumsy).commitVote(taskId, d.round, h.commitmentOf(taskId, d.round, clumsy.address, 650, [], salt));
    // A proposer cannot commit or reveal a vote, even with a crafted "update hash".
    await expect(v2.connect(prop).commitVote(taskId, d.round, c)).to.be.revertedWithCustomError(v2, "WrongRole");
    await h.increase(61);
    await expect(v2.connect(prop).revealVote(taskId, d.round, 700, [], salt)).to.be.revertedWithCustomError(v2, "WrongRole");
    await expect(v2.connect(copier).revealVote(taskId, d.round, 700, [], salt)).to.be.revertedWithCustomError(v2, "BadReveal");
    await expect(v2.connect(clumsy).revealVote(taskId, d.round, 651, [], salt)).to.be.revertedWithCustomError(v2, "BadReveal");
    await v2.connect(clumsy).revealVote(taskId, d.round, 650, [], salt);
    await expect(v2.connect(clumsy).revealVote(taskId, d.round, 650, [], salt)).to.be.revertedWithCustomError(v2, "AlreadyRevealed");
    await v2.connect(honest).revealVote(taskId, d.round, 700, [], salt);
    // `shy` sees the others' reveals and keeps its outlier vote hidden: slashed like the copier.
    await h.increase(61);
    await v2.connect(nodes[10]).finalizeRound(taskId);
    for (const n of [copier, shy]) expect((await v2.nodeInfo(taskId, n.address)).stake).to.equal(900n);
    for (const n of [honest, clumsy]) {
      expect((await v2.nodeInfo(taskId, n.address)).stake).to.equal(1000n);
      expect((await v2.nodeInfo(taskId, n.address)).reward).to.be.greaterThan(0n);
    }
    // Late calls are refused with typed errors and change nothing.
    await expect(v2.connect(honest).revealVote(taskId, d.round, 700, [], salt)).to.be.revertedWithCustomError(v2, "WrongState");
    await expect(v2.connect(nodes[10]).finalizeRound(taskId)).to.be.revertedWithCustomError(v2, "WrongState");
  });
});
