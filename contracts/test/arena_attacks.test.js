// ArenaTask (issue 17): a whole task end to end against the JS model, the parameter bounds, and
// each attack the issue names: copying scores, random scoring, not revealing, a Sybil validator
// with little stake, a submission replaced after the window, a delegator withdrawing more than it
// put in. contracts/README.md ("ArenaTask") has the trust model these tests hold it to.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const h = require("./helpersArena");

const E = 10n ** 18n;

async function fixture() {
  return h.deployArena();
}

/// Checks the booked result against the model, and that the contract holds exactly what it owes.
async function expectBooked(ctx, taskId, res) {
  const { arena } = ctx;
  const subs = await arena.submissions(taskId);
  const vals = await arena.validators(taskId);
  for (let s = 0; s < subs.length; ++s) {
    const r = await arena.resultOf(taskId, s);
    expect(r.hasConsensus).to.equal(res.expected.hasConsensus[s]);
    expect(r.consensus).to.equal(res.expected.consensus[s]);
    expect(r.reward).to.equal(res.expected.nodeReward[s]);
  }
  const fin = res.rc.logs.map((l) => arena.interface.parseLog(l)).find((e) => e && e.name === "TaskFinalized");
  expect(fin.args.paid).to.equal(res.expected.paid);
  expect(fin.args.slashed).to.equal(res.expected.slashed);
  expect(fin.args.creatorCredit).to.equal(res.expected.creatorCredit);
  const vr = res.rc.logs.map((l) => arena.interface.parseLog(l)).filter((e) => e && e.name === "ValidatorRewarded");
  vals.forEach((v, i) => expect(vr.find((e) => e.args.validator === v).args.reward).to.equal(res.expected.validatorReward[i]));
}

describe("ArenaTask", function () {
  it("runs a task end to end: assignments by stake, commit-reveal, consensus, ranks, rewards, delegation, claims", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 3 });
    const nodes = others.slice(0, 5).map((who, i) => ({ who, stake: BigInt(20 + 10 * i) * E, commissionBps: 1000 }));
    const validators = others.slice(5, 9).map((who, i) => ({ who, stake: BigInt(50 + 25 * i) * E, commissionBps: 2000 }));
    const d1 = others[10];
    const d2 = others[11];
    await h.populate(ctx, taskId, {
      nodes,
      validators,
      delegations: [
        { from: d1, to: nodes[0].who, amount: 30n * E },
        { from: d2, to: nodes[0].who, amount: 10n * E },
        { from: d2, to: validators[1].who, amount: 40n * E },
      ],
    });
    expect(await arena.taskStake(taskId)).to.equal(nodes.reduce((a, n) => a + n.stake, 0n) + validators.reduce((a, v) => a + v.stake, 0n) + 80n * E);
    await h.closeAndDraw(arena, taskId, creator);
    // Assignments: k distinct validators per submission, the same as the JS model's sampling.
    const t = await arena.getTask(taskId);
    const vals = await arena.validators(taskId);
    const cum = [];
    let c = 0n;
    for (const v of vals) {
      const p = await arena.participant(taskId, v);
      c += p.stake + p.delegated;
      cum.push(c);
    }
    for (let s = 0; s < 5; ++s) {
      const a = await arena.assignees(taskId, s);
      expect(new Set(a).size).to.equal(3);
      expect(a).to.deep.equal(h.picks(t.seed, s, cum, 3).map((i) => vals[i]));
    }
    // Node i's adapter has loss 1.0 + 0.1·i; every validator scores honestly (± 0.1%).
    const truth = (s) => 1_000_000n + 100_000n * BigInt(s);
    const res = await h.scoreAndFinalize(ctx, taskId, (v, s) => truth(s) + BigInt(vals.indexOf(v)) * 500n);
    await expectBooked(ctx, taskId, res);
    for (let s = 0; s < 5; ++s) expect((await arena.resultOf(taskId, s)).rank).to.equal(BigInt(s));
    // Rewards fall with the rank (geometric series, ratio 0.5) even though stakes grow with it.
    for (let s = 1; s < 5; ++s) expect((await arena.resultOf(taskId, s)).reward < (await arena.resultOf(taskId, s - 1)).reward).to.equal(true);
    // Delegators of node 0: (reward · 40/60 − 10% commission) pro rata 30:10.
    const r0 = (await arena.resultOf(taskId, 0)).reward;
    const split = h.splitDelegation(r0, 20n * E, 1000n, [30n * E, 10n * E]);
    expect(await arena.rewardOf(taskId, d1.address)).to.equal(split.delegators[0]);
    // Pull claims and withdrawals empty the contract exactly.
    const everyone = [creator, ...others.slice(0, 12)];
    for (const w of everyone) {
      if ((await arena.rewardOf(taskId, w.address)) > 0n || w === creator) await arena.connect(w).claim(taskId);
      if ((await arena.participant(taskId, w.address)).stake > 0n) await arena.connect(w).withdraw(taskId);
    }
    await arena.connect(d1).undelegate(taskId, nodes[0].who.address, 30n * E);
    await arena.connect(d2).undelegate(taskId, nodes[0].who.address, 10n * E);
    await arena.connect(d2).undelegate(taskId, validators[1].who.address, 40n * E);
    expect(await token.balanceOf(arena.target)).to.equal(0n);
  });

  it("refuses every parameter out of bounds with a typed error", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, creator } = ctx;
    await h.fundAndApprove(token, arena, creator, 10n ** 30n);
    const bad = [
      [{ token: ethers.ZeroAddress }, "token"],
      [{ rewardPool: 1n << 128n }, "rewardPool"],
      [{ minNodeStake: 0 }, "minNodeStake"],
      [{ minValidatorStake: 0 }, "minValidatorStake"],
      [{ submitWindow: 0 }, "window 0"],
      [{ revealWindow: 31n * 86400n }, "window too long"],
      [{ validatorsPerSubmission: 0 }, "validatorsPerSubmission"],
      [{ validatorsPerSubmission: 9 }, "validatorsPerSubmission"],
      [{ gammaBps: 10001 }, "gammaBps"],
      [{ rankRatioBps: 0 }, "rankRatioBps"],
      [{ rankRatioBps: 10000 }, "rankRatioBps"],
      [{ toleranceBps: 0 }, "toleranceBps"],
      [{ toleranceBps: 10001 }, "toleranceBps"],
      [{ slashBps: 10001 }, "slashBps"],
      [{ maxCommissionBps: 10001 }, "maxCommissionBps"],
    ];
    for (const [over, what] of bad)
      await expect(arena.createTask(h.arenaParams(token, over)), what).to.be.revertedWithCustomError(arena, "BadTaskParams").withArgs(what);
    const taskId = await h.createArenaTask(ctx);
    const [a, b] = ctx.others;
    await h.fundAndApprove(token, arena, a, 100n * E);
    await h.fundAndApprove(token, arena, b, 100n * E);
    await expect(arena.connect(a).stake(taskId, h.ROLE.node, 9n * E, 0)).to.be.revertedWithCustomError(arena, "StakeTooSmall");
    await expect(arena.connect(a).stake(taskId, h.ROLE.node, 10n * E, 5001)).to.be.revertedWithCustomError(arena, "CommissionTooHigh");
    await expect(arena.connect(a).stake(taskId, h.ROLE.none, 10n * E, 0)).to.be.revertedWithCustomError(arena, "WrongRole");
    await arena.connect(a).stake(taskId, h.ROLE.node, 10n * E, 0);
    await expect(arena.connect(a).stake(taskId, h.ROLE.validator, 10n * E, 0)).to.be.revertedWithCustomError(arena, "WrongRole"); // one role per task
    await expect(arena.connect(b).submit(taskId, ethers.id("x"), "file:///x")).to.be.revertedWithCustomError(arena, "WrongRole");
    await expect(arena.connect(a).submit(taskId, ethers.ZeroHash, "file:///x")).to.be.revertedWithCustomError(arena, "BadSubmission");
    await expect(arena.connect(a).submit(taskId, ethers.id("x"), "")).to.be.revertedWithCustomError(arena, "BadSubmission");
    await expect(arena.connect(a).submit(taskId, ethers.id("x"), "u".repeat(257))).to.be.revertedWithCustomError(arena, "BadSubmission");
    await expect(arena.connect(b).delegate(taskId, b.address, E)).to.be.revertedWithCustomError(arena, "NotDelegate");
    await expect(arena.connect(a).delegate(taskId, a.address, E)).to.be.revertedWithCustomError(arena, "NotDelegate");
    await expect(arena.connect(a).closeSubmissions(taskId)).to.be.revertedWithCustomError(arena, "TooEarly");
    await expect(arena.getTask(99)).to.be.revertedWithCustomError(arena, "UnknownTask");
  });

  it("a submission cannot be replaced after the window, nor copy another's adapter hash", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, others } = ctx;
    const taskId = await h.createArenaTask(ctx);
    const [a, b, v] = others;
    await h.populate(ctx, taskId, { nodes: [{ who: a, stake: 10n * E }, { who: b, stake: 10n * E }], validators: [{ who: v, stake: 10n * E }], submit: false });
    await arena.connect(a).submit(taskId, ethers.id("first"), "file:///a1");
    await arena.connect(a).submit(taskId, ethers.id("second"), "file:///a2"); // within the window: replaced
    await expect(arena.connect(b).submit(taskId, ethers.id("second"), "file:///b")).to.be.revertedWithCustomError(arena, "DuplicateAdapter");
    await arena.connect(b).submit(taskId, ethers.id("first"), "file:///b"); // freed by a's replacement
    const t = await arena.getTask(taskId);
    await h.increase(t.submitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
    await expect(arena.connect(a).submit(taskId, ethers.id("third"), "file:///a3")).to.be.revertedWithCustomError(arena, "WindowClosed");
    await arena.closeSubmissions(taskId);
    await expect(arena.connect(a).submit(taskId, ethers.id("third"), "file:///a3")).to.be.revertedWithCustomError(arena, "WrongPhase");
    const p = await arena.participant(taskId, a.address);
    expect(p.adapterHash).to.equal(ethers.id("second"));
    expect(p.adapterUri).to.equal("file:///a2");
    expect((await arena.getTask(taskId)).submissionCount).to.equal(2n);
  });

  it("copying scores: a copied commitment cannot be revealed, a copied score was never committed, late commits are refused", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 3 });
    const [n1, n2, honest1, honest2, copier] = others;
    await h.populate(ctx, taskId, {
      nodes: [{ who: n1, stake: 10n * E }, { who: n2, stake: 10n * E }],
      validators: [{ who: honest1, stake: 100n * E }, { who: honest2, stake: 100n * E }, { who: copier, stake: 100n * E }],
    });
    await h.closeAndDraw(arena, taskId, creator);
    const salt = ethers.id("honest salt");
    await arena.connect(honest1).commitScores(taskId, [0, 1], [h.commitmentOf(taskId, 0, honest1.address, 1_000_000n, salt), h.commitmentOf(taskId, 1, honest1.address, 2_000_000n, salt)]);
    await arena.connect(honest2).commitScores(taskId, [0, 1], [h.commitmentOf(taskId, 0, honest2.address, 1_000_000n, salt), h.commitmentOf(taskId, 1, honest2.address, 2_000_000n, salt)]);
    // Only commitments are on chain during the commit window.
    expect((await arena.scoreOf(taskId, 0, honest1.address)).score).to.equal(0n);
    // The copier copies honest1's commitment for submission 0, and commits a guess for 1.
    const copied = (await arena.scoreOf(taskId, 0, honest1.address)).commitment;
    const cSalt = ethers.id("copier salt");
    await arena.connect(copier).commitScores(taskId, [0, 1], [copied, h.commitmentOf(taskId, 1, copier.address, 5_000_000n, cSalt)]);
    const t = await arena.getTask(taskId);
    await h.increase(t.commitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
    await arena.connect(honest1).revealScores(taskId, [0, 1], [1_000_000n, 2_000_000n], [salt, salt]);
    await arena.connect(honest2).revealScores(taskId, [0, 1], [1_000_000n, 2_000_000n], [salt, salt]);
    // Having seen the reveals: the copied commitment binds honest1's address, so the copier cannot open it
    // even with honest1's score and salt; and its own commitment does not open to the score it now copies.
    await expect(arena.connect(copier).revealScores(taskId, [0], [1_000_000n], [salt])).to.be.revertedWithCustomError(arena, "BadReveal");
    await expect(arena.connect(copier).revealScores(taskId, [1], [2_000_000n], [cSalt])).to.be.revertedWithCustomError(arena, "BadReveal");
    // A validator that waits for the reveals to commit a copy is too late.
    await expect(arena.connect(copier).commitScores(taskId, [0], [h.commitmentOf(taskId, 0, copier.address, 1_000_000n, cSalt)])).to.be.revertedWithCustomError(arena, "WindowClosed");
    // The copier reveals only its own guess; its unrevealed (copied) commitment is slashed.
    await arena.connect(copier).revealScores(taskId, [1], [5_000_000n], [cSalt]);
    await h.increase(Number(t.revealWindow) + 1);
    const model = await h.modelInput(arena, taskId);
    const ex = h.arenaSettle(model);
    await arena.finalize(taskId);
    expect(ex.validatorSlash[2]).to.equal(50n * E);
    expect((await arena.participant(taskId, copier.address)).stake).to.equal(50n * E);
    expect(await arena.rewardOf(taskId, copier.address)).to.equal(0n);
    expect(await arena.rewardOf(taskId, honest1.address)).to.equal(ex.validatorReward[0]);
    expect(ex.validatorReward[0] > 0n).to.equal(true);
  });

  it("random scoring earns less than honest scoring; far from consensus earns nothing", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 4 });
    const nodes = others.slice(0, 6).map((who) => ({ who, stake: 10n * E }));
    const vs = others.slice(6, 10).map((who) => ({ who, stake: 100n * E }));
    await h.populate(ctx, taskId, { nodes, validators: vs });
    await h.closeAndDraw(arena, taskId, creator);
    const r = h.rng(7);
    const random = vs[3].who.address;
    const guesses = new Map();
    const guess = (s) => {
      if (!guesses.has(s)) guesses.set(s, BigInt(Math.floor(r() * 9_000_000)));
      return guesses.get(s);
    };
    const res = await h.scoreAndFinalize(ctx, taskId, (v, s) => (v === random ? guess(s) : 1_000_000n + 200_000n * BigInt(s) + BigInt(vs.findIndex((x) => x.who.address === v)) * 1000n));
    await expectBooked(ctx, taskId, res);
    const rewards = await Promise.all(vs.map((v) => arena.rewardOf(taskId, v.who.address)));
    for (let i = 0; i < 3; ++i) expect(rewards[3] < rewards[i]).to.equal(true);
    // Its scores far from consensus (more than 10% off) add no weight at all.
    const vals = await arena.validators(taskId);
    const ri = vals.indexOf(random);
    const mine = res.model.entries.filter((e) => e.validator === ri);
    const far = mine.filter((e) => h.agreement(e.score, res.expected.consensus[e.sub], 1000n) === 0n);
    expect(far.length).to.be.greaterThan(0);
    const sumAgree = mine.reduce((a, e) => a + h.agreement(e.score, res.expected.consensus[e.sub], 1000n), 0n);
    expect(res.expected.validatorWeight[ri]).to.equal(100n * E * sumAgree);
    expect(sumAgree <= BigInt(mine.length - far.length) * 10000n).to.equal(true);
    expect(rewards[3] * 3n < rewards[0]).to.equal(true);
  });

  it("not revealing is slashed; the slash pays the honest validators", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 3, slashBps: 4000 });
    const nodes = others.slice(0, 3).map((who) => ({ who, stake: 10n * E }));
    const vs = others.slice(3, 6).map((who) => ({ who, stake: 100n * E }));
    await h.populate(ctx, taskId, { nodes, validators: vs });
    await h.closeAndDraw(arena, taskId, creator);
    const silent = vs[2].who.address;
    const res = await h.scoreAndFinalize(ctx, taskId, (v, s) => 1_000_000n + 10_000n * BigInt(s), (v) => v !== silent);
    await expectBooked(ctx, taskId, res);
    expect((await arena.participant(taskId, silent)).stake).to.equal(60n * E);
    expect(await arena.rewardOf(taskId, silent)).to.equal(0n);
    expect(res.expected.slashed).to.equal(40n * E);
    const before = await token.balanceOf(silent);
    await arena.connect(vs[2].who).withdraw(taskId);
    expect((await token.balanceOf(silent)) - before).to.equal(60n * E);
    await expect(arena.connect(vs[2].who).claim(taskId)).to.be.revertedWithCustomError(arena, "NothingToClaim");
  });

  it("a Sybil validator with little stake cannot move the consensus and earns nothing against it", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 4, minValidatorStake: 1n });
    const nodes = others.slice(0, 4).map((who) => ({ who, stake: 10n * E }));
    const vs = [...others.slice(4, 7).map((who) => ({ who, stake: 100n * E })), { who: others[7], stake: 1n * E }];
    await h.populate(ctx, taskId, { nodes, validators: vs });
    await h.closeAndDraw(arena, taskId, creator);
    const sybil = others[7].address;
    // The Sybil inverts the ranking: the worst adapter gets the best loss.
    const res = await h.scoreAndFinalize(ctx, taskId, (v, s) => (v === sybil ? 5_000_000n - 1_000_000n * BigInt(s) : 1_000_000n + 100_000n * BigInt(s)));
    await expectBooked(ctx, taskId, res);
    for (let s = 0; s < 4; ++s) {
      expect((await arena.resultOf(taskId, s)).consensus).to.equal(1_000_000n + 100_000n * BigInt(s));
      expect((await arena.resultOf(taskId, s)).rank).to.equal(BigInt(s));
    }
    expect(await arena.rewardOf(taskId, sybil)).to.equal(0n);
  });

  it("a delegator can never withdraw more than it put in; principal is locked while scoring", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 1 });
    const [n1, v1, d] = others;
    await h.populate(ctx, taskId, { nodes: [{ who: n1, stake: 10n * E, commissionBps: 500 }], validators: [{ who: v1, stake: 10n * E }], delegations: [{ from: d, to: n1, amount: 30n * E }] });
    await expect(arena.connect(d).undelegate(taskId, n1.address, 31n * E)).to.be.revertedWithCustomError(arena, "InsufficientDelegation").withArgs(30n * E, 31n * E);
    await arena.connect(d).undelegate(taskId, n1.address, 10n * E); // while open: allowed
    expect(await arena.taskStake(taskId)).to.equal(40n * E);
    await expect(arena.connect(d).undelegate(taskId, v1.address, 1n)).to.be.revertedWithCustomError(arena, "InsufficientDelegation").withArgs(0n, 1n);
    await h.closeAndDraw(arena, taskId, creator);
    await expect(arena.connect(d).undelegate(taskId, n1.address, 1n)).to.be.revertedWithCustomError(arena, "WrongPhase");
    const res = await h.scoreAndFinalize(ctx, taskId, () => 1_000_000n);
    await expectBooked(ctx, taskId, res);
    const before = await token.balanceOf(d.address);
    await expect(arena.connect(d).undelegate(taskId, n1.address, 20n * E + 1n)).to.be.revertedWithCustomError(arena, "InsufficientDelegation");
    await arena.connect(d).undelegate(taskId, n1.address, 20n * E);
    await expect(arena.connect(d).undelegate(taskId, n1.address, 1n)).to.be.revertedWithCustomError(arena, "InsufficientDelegation");
    const reward = await arena.rewardOf(taskId, d.address);
    expect(reward).to.equal(h.splitDelegation(res.expected.nodeReward[0], 10n * E, 500n, [20n * E]).delegators[0]);
    await arena.connect(d).claim(taskId);
    expect((await token.balanceOf(d.address)) - before).to.equal(20n * E + reward);
  });

  it("commits only from assigned validators, reveals only in the reveal window, finalizes only after it", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: 1 });
    const nodes = others.slice(0, 3).map((who) => ({ who, stake: 10n * E }));
    const vs = others.slice(3, 6).map((who) => ({ who, stake: 10n * E }));
    await h.populate(ctx, taskId, { nodes, validators: vs });
    const open = await arena.getTask(taskId);
    await h.increase(open.submitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
    await arena.connect(creator).closeSubmissions(taskId);
    await expect(arena.drawAssignments(taskId)).to.be.revertedWithCustomError(arena, "TooEarly"); // same block + 2 not mined yet
    await expect(arena.assignees(taskId, 0)).to.be.revertedWithCustomError(arena, "WrongPhase");
    await h.mine(3);
    await arena.drawAssignments(taskId);
    const [assigned] = await arena.assignees(taskId, 0);
    const other = vs.find((v) => v.who.address !== assigned).who;
    const salt = ethers.id("s");
    await expect(arena.connect(other).commitScores(taskId, [0], [h.commitmentOf(taskId, 0, other.address, 1n, salt)])).to.be.revertedWithCustomError(arena, "NotAssigned");
    await expect(arena.connect(nodes[0].who).commitScores(taskId, [0], [ethers.id("x")])).to.be.revertedWithCustomError(arena, "WrongRole");
    const a = h.by(ctx, assigned);
    await arena.connect(a).commitScores(taskId, [0], [h.commitmentOf(taskId, 0, assigned, 1n, salt)]);
    await expect(arena.connect(a).commitScores(taskId, [0], [h.commitmentOf(taskId, 0, assigned, 1n, salt)])).to.be.revertedWithCustomError(arena, "AlreadyCommitted");
    await expect(arena.connect(a).revealScores(taskId, [0], [1n], [salt])).to.be.revertedWithCustomError(arena, "TooEarly");
    await expect(arena.finalize(taskId)).to.be.revertedWithCustomError(arena, "TooEarly");
    const t = await arena.getTask(taskId);
    await h.increase(t.commitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
    await expect(arena.connect(a).revealScores(taskId, [0], [2n], [salt])).to.be.revertedWithCustomError(arena, "BadReveal");
    await arena.connect(a).revealScores(taskId, [0], [1n], [salt]);
    await expect(arena.connect(a).revealScores(taskId, [0], [1n], [salt])).to.be.revertedWithCustomError(arena, "AlreadyRevealed");
    await h.increase(Number(t.revealWindow) + 1);
    await expect(arena.connect(a).revealScores(taskId, [0], [1n], [salt])).to.be.revertedWithCustomError(arena, "WindowClosed");
    await arena.finalize(taskId);
    await expect(arena.finalize(taskId)).to.be.revertedWithCustomError(arena, "WrongPhase");
  });

  it("bounds the participants and delegations a finalize has to pay", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, signers } = ctx;
    const taskId = await h.createArenaTask(ctx, { minNodeStake: 1n, minValidatorStake: 1n, submitWindow: 86400n });
    const nodeCap = Number(await arena.MAX_NODES());
    expect(nodeCap).to.equal(64);
    for (let i = 0; i < nodeCap; ++i) {
      await h.fundAndApprove(token, arena, signers[1 + i], 10n);
      await arena.connect(signers[1 + i]).stake(taskId, h.ROLE.node, 1n, 0);
    }
    await h.fundAndApprove(token, arena, signers[66], 10n);
    await expect(arena.connect(signers[66]).stake(taskId, h.ROLE.node, 1n, 0)).to.be.revertedWithCustomError(arena, "TaskFull");
    // 16 delegators per delegate, 64 delegations per task.
    const to = signers[1].address;
    for (let i = 0; i < 16; ++i) {
      await h.fundAndApprove(token, arena, signers[70 + i], 10n);
      await arena.connect(signers[70 + i]).delegate(taskId, to, 1n);
    }
    await h.fundAndApprove(token, arena, signers[90], 100n);
    await expect(arena.connect(signers[90]).delegate(taskId, to, 1n)).to.be.revertedWithCustomError(arena, "TooManyDelegators");
    // A delegator that takes everything back frees its slot (while open).
    await arena.connect(signers[70]).undelegate(taskId, to, 1n);
    await arena.connect(signers[90]).delegate(taskId, to, 1n);
    for (let i = 0; i < 48; ++i) await arena.connect(signers[90]).delegate(taskId, signers[2 + i].address, 1n);
    expect((await arena.getTask(taskId)).delegationCount).to.equal(64n);
    await expect(arena.connect(signers[90]).delegate(taskId, signers[60].address, 1n)).to.be.revertedWithCustomError(arena, "TooManyDelegations");
    await arena.connect(signers[90]).delegate(taskId, signers[2].address, 1n); // an existing pair may grow
  });

  it("a task with no submission or no validator returns its pool to the creator at close", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, others, creator } = ctx;
    const taskId = await h.createArenaTask(ctx);
    await h.populate(ctx, taskId, { nodes: [{ who: others[0], stake: 10n * E }] }); // no validator
    const t = await arena.getTask(taskId);
    await h.increase(t.submitDeadline - BigInt((await ethers.provider.getBlock("latest")).timestamp) + 1n);
    await arena.closeSubmissions(taskId);
    expect((await arena.getTask(taskId)).phase).to.equal(BigInt(h.PHASE.finalized));
    expect(await arena.taskStake(taskId)).to.equal(0n);
    const before = await token.balanceOf(creator.address);
    await arena.connect(creator).claim(taskId);
    expect((await token.balanceOf(creator.address)) - before).to.equal(1000n * E);
    await arena.connect(others[0]).withdraw(taskId);
    expect(await token.balanceOf(arena.target)).to.equal(0n);
  });
});
