// Every revert path of AllianceTask, each with its custom error and arguments.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const {
  VOTE_TYPES,
  deploy,
  taskParams,
  createTask,
  stakeAndJoin,
  domain,
  signVote,
  startRoundWithRoles,
} = require("./helpers");

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/// A task with six joined nodes (stake 1000 each) and round 1 open: p0, p1 proposers, v0..v3 voters.
async function openRound() {
  const ctx = await deploy();
  const { alliance, nodes } = ctx;
  const taskId = await createTask(ctx, { minStake: 100n, proposerBps: 5000n, totalRounds: 3n });
  const p = nodes.slice(0, 2);
  const v = nodes.slice(2, 6);
  for (const n of [...p, ...v]) await stakeAndJoin(ctx, taskId, n, 1000n);
  const roles = [...p.map((signer) => ({ signer, role: "proposer" })), ...v.map((signer) => ({ signer, role: "voter" }))];
  const { round } = await startRoundWithRoles(ctx, taskId, roles, 5000n);
  const modelHash = ethers.id("candidate");
  const outsider = nodes[10];
  return { ...ctx, taskId, round, p, v, modelHash, outsider, alliance };
}

describe("AllianceTask reverts", function () {
  describe("createTask", function () {
    const bad = [
      ["token is zero", { token: ethers.ZeroAddress }],
      ["aggregator is zero", { aggregator: ethers.ZeroAddress }],
      ["totalRounds out of range", { totalRounds: 0n }],
      ["totalRounds out of range", { totalRounds: 1_000_001n }],
      ["minStake out of range", { minStake: 0n }],
      ["minStake out of range", { minStake: 2n ** 104n }],
      ["proposerBps > 10000", { proposerBps: 10001n }],
      ["slashBps > 10000", { slashBps: 10001n }],
      ["rewardPool too large", { rewardPool: 2n ** 104n }],
    ];
    for (const [reason, over] of bad) {
      it(`BadTaskParams: ${reason} (${Object.keys(over)[0]} = ${Object.values(over)[0]})`, async function () {
        const { alliance, token, aggregator } = await loadFixture(deploy);
        await expect(alliance.createTask(taskParams(token, aggregator, over)))
          .to.be.revertedWithCustomError(alliance, "BadTaskParams")
          .withArgs(reason);
      });
    }

    it("without allowance: the token's error", async function () {
      const { alliance, token, aggregator, creator } = await loadFixture(deploy);
      await token.mint(creator.address, 1_000_000n);
      await expect(alliance.createTask(taskParams(token, aggregator))).to.be.revertedWithCustomError(
        token,
        "ERC20InsufficientAllowance"
      );
    });

    it("UnsupportedToken: a fee-on-transfer token", async function () {
      const { alliance, aggregator, creator } = await loadFixture(deploy);
      const fee = await (await ethers.getContractFactory("FeeOnTransferToken")).deploy();
      await fee.mint(creator.address, 1000n);
      await fee.approve(alliance.target, 1000n);
      await expect(alliance.createTask(taskParams(fee, aggregator, { rewardPool: 1000n })))
        .to.be.revertedWithCustomError(alliance, "UnsupportedToken")
        .withArgs(1000n, 990n);
    });
  });

  describe("stake, join, leave, unstake", function () {
    it("UnknownTask", async function () {
      const { alliance, nodes } = await loadFixture(deploy);
      await expect(alliance.connect(nodes[0]).stake(7n, 1n)).to.be.revertedWithCustomError(alliance, "UnknownTask").withArgs(7n);
      await expect(alliance.connect(nodes[0]).join(7n)).to.be.revertedWithCustomError(alliance, "UnknownTask").withArgs(7n);
      await expect(alliance.connect(nodes[0]).claim(7n)).to.be.revertedWithCustomError(alliance, "UnknownTask").withArgs(7n);
    });

    it("ZeroAmount", async function () {
      const ctx = await loadFixture(deploy);
      const taskId = await createTask(ctx);
      await expect(ctx.alliance.connect(ctx.nodes[0]).stake(taskId, 0n)).to.be.revertedWithCustomError(ctx.alliance, "ZeroAmount");
      await expect(ctx.alliance.connect(ctx.nodes[0]).unstake(taskId, 0n)).to.be.revertedWithCustomError(ctx.alliance, "ZeroAmount");
    });

    it("StakeTooSmall: join below minStake", async function () {
      const ctx = await loadFixture(deploy);
      const { alliance, token, nodes } = ctx;
      const taskId = await createTask(ctx, { minStake: 100n });
      await expect(alliance.connect(nodes[0]).join(taskId)).to.be.revertedWithCustomError(alliance, "StakeTooSmall").withArgs(0n, 100n);
      await token.mint(nodes[0].address, 99n);
      await token.connect(nodes[0]).approve(alliance.target, 99n);
      await alliance.connect(nodes[0]).stake(taskId, 99n);
      await expect(alliance.connect(nodes[0]).join(taskId)).to.be.revertedWithCustomError(alliance, "StakeTooSmall").withArgs(99n, 100n);
    });

    it("AlreadyJoined, NotJoined", async function () {
      const ctx = await loadFixture(deploy);
      const { alliance, nodes } = ctx;
      const taskId = await createTask(ctx);
      await stakeAndJoin(ctx, taskId, nodes[0], 100n);
      await expect(alliance.connect(nodes[0]).join(taskId)).to.be.revertedWithCustomError(alliance, "AlreadyJoined").withArgs(nodes[0].address);
      await expect(alliance.connect(nodes[1]).leave(taskId)).to.be.revertedWithCustomError(alliance, "NotJoined").withArgs(nodes[1].address);
    });

    it("InsufficientStake, StakeTooSmall on unstake while joined", async function () {
      const ctx = await loadFixture(deploy);
      const { alliance, nodes } = ctx;
      const taskId = await createTask(ctx, { minStake: 100n });
      await stakeAndJoin(ctx, taskId, nodes[0], 150n);
      await expect(alliance.connect(nodes[0]).unstake(taskId, 151n))
        .to.be.revertedWithCustomError(alliance, "InsufficientStake")
        .withArgs(150n, 151n);
      await expect(alliance.connect(nodes[0]).unstake(taskId, 51n))
        .to.be.revertedWithCustomError(alliance, "StakeTooSmall")
        .withArgs(99n, 100n);
      await alliance.connect(nodes[0]).unstake(taskId, 50n); // down to exactly minStake
      await alliance.connect(nodes[0]).leave(taskId);
      await alliance.connect(nodes[0]).unstake(taskId, 100n); // all of it once left
      expect(await alliance.stakeOf(taskId, nodes[0].address)).to.equal(0n);
    });

    it("NodeBound: a participant cannot stake, unstake (withdraw) or leave while its round is open", async function () {
      const { alliance, token, taskId, round, p, v } = await loadFixture(openRound);
      for (const n of [p[0], v[0]]) {
        await token.mint(n.address, 5n);
        await token.connect(n).approve(alliance.target, 5n);
        await expect(alliance.connect(n).stake(taskId, 5n)).to.be.revertedWithCustomError(alliance, "NodeBound").withArgs(n.address, round);
        await expect(alliance.connect(n).unstake(taskId, 1n)).to.be.revertedWithCustomError(alliance, "NodeBound").withArgs(n.address, round);
        await expect(alliance.connect(n).leave(taskId)).to.be.revertedWithCustomError(alliance, "NodeBound").withArgs(n.address, round);
        const info = await alliance.nodeInfo(taskId, n.address);
        expect(info.bound).to.equal(true);
      }
    });

    it("TaskHasEnded: no stake or join after the last round", async function () {
      const ctx = await loadFixture(deploy);
      const { alliance, aggregator, nodes } = ctx;
      const taskId = await createTask(ctx, { totalRounds: 1n });
      await stakeAndJoin(ctx, taskId, nodes[0], 100n);
      await alliance.connect(aggregator).startRound(taskId);
      await alliance.connect(aggregator).finalizeRound(taskId, 1n, ethers.ZeroHash, [], []);
      await expect(alliance.connect(nodes[1]).stake(taskId, 1n)).to.be.revertedWithCustomError(alliance, "TaskHasEnded");
      await expect(alliance.connect(nodes[0]).join(taskId)).to.be.revertedWithCustomError(alliance, "TaskHasEnded");
      await expect(alliance.connect(aggregator).startRound(taskId)).to.be.revertedWithCustomError(alliance, "TaskHasEnded");
      // A still-joined node withdraws everything once the task has ended.
      await alliance.connect(nodes[0]).unstake(taskId, 100n);
    });

    it("ReentrancyGuard: a token that calls back into the contract during a transfer", async function () {
      const ctx = await loadFixture(deploy);
      const { alliance, aggregator, nodes } = ctx;
      const evil = await (await ethers.getContractFactory("ReentrantToken")).deploy();
      await evil.mint(ctx.creator.address, 1000n);
      await evil.approve(alliance.target, 1000n);
      await alliance.createTask(taskParams(evil, aggregator, { rewardPool: 1000n, minStake: 10n }));
      await evil.mint(nodes[0].address, 100n);
      await evil.connect(nodes[0]).approve(alliance.target, 100n);
      await alliance.connect(nodes[0]).stake(1n, 100n);
      await evil.arm(alliance.target, alliance.interface.encodeFunctionData("unstake", [1n, 1n]));
      await expect(alliance.connect(nodes[0]).unstake(1n, 50n)).to.be.revertedWithCustomError(
        alliance,
        "ReentrancyGuardReentrantCall"
      );
    });
  });

  describe("startRound", function () {
    it("NotAggregator", async function () {
      const ctx = await loadFixture(deploy);
      const taskId = await createTask(ctx);
      await stakeAndJoin(ctx, taskId, ctx.nodes[0], 100n);
      for (const who of [ctx.creator, ctx.nodes[0]]) {
        await expect(ctx.alliance.connect(who).startRound(taskId))
          .to.be.revertedWithCustomError(ctx.alliance, "NotAggregator")
          .withArgs(who.address);
      }
    });

    it("NoParticipants", async function () {
      const ctx = await loadFixture(deploy);
      const taskId = await createTask(ctx);
      await expect(ctx.alliance.connect(ctx.aggregator).startRound(taskId)).to.be.revertedWithCustomError(ctx.alliance, "NoParticipants");
    });

    it("RoundStillOpen: rounds strictly one after another", async function () {
      const { alliance, aggregator, taskId, round } = await loadFixture(openRound);
      await expect(alliance.connect(aggregator).startRound(taskId))
        .to.be.revertedWithCustomError(alliance, "RoundStillOpen")
        .withArgs(round);
    });

    it("UnknownRound from roleOf", async function () {
      const { alliance, taskId, round, p } = await loadFixture(openRound);
      await expect(alliance.roleOf(taskId, round + 1n, p[0].address))
        .to.be.revertedWithCustomError(alliance, "UnknownRound")
        .withArgs(taskId, round + 1n);
    });
  });

  describe("finalizeRound", function () {
    it("NotAggregator", async function () {
      const { alliance, taskId, round, modelHash, creator, v } = await loadFixture(openRound);
      for (const who of [creator, v[0]]) {
        await expect(alliance.connect(who).finalizeRound(taskId, round, modelHash, [], []))
          .to.be.revertedWithCustomError(alliance, "NotAggregator")
          .withArgs(who.address);
      }
    });

    it("WrongRound: rounds out of order", async function () {
      const { alliance, aggregator, taskId, round, modelHash } = await loadFixture(openRound);
      for (const r of [0n, round + 1n, round + 5n]) {
        await expect(alliance.connect(aggregator).finalizeRound(taskId, r, modelHash, [], []))
          .to.be.revertedWithCustomError(alliance, "WrongRound")
          .withArgs(round, r);
      }
      await alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], []);
      await alliance.connect(aggregator).startRound(taskId);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], []))
        .to.be.revertedWithCustomError(alliance, "WrongRound")
        .withArgs(round + 1n, round);
    });

    it("RoundNotOpen: finalize twice", async function () {
      const { alliance, aggregator, taskId, round, modelHash, v } = await loadFixture(openRound);
      const votes = [await signVote(alliance, v[0], taskId, round, modelHash, 1)];
      await alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, []);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, []))
        .to.be.revertedWithCustomError(alliance, "RoundNotOpen")
        .withArgs(round);
    });

    it("BadScore: 0 and 2", async function () {
      const { alliance, aggregator, taskId, round, modelHash, v } = await loadFixture(openRound);
      for (const score of [0, 2, -2]) {
        const vote = await signVote(alliance, v[0], taskId, round, modelHash, score);
        await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [vote], []))
          .to.be.revertedWithCustomError(alliance, "BadScore")
          .withArgs(v[0].address, score);
      }
    });

    describe("BadSignature", function () {
      async function expectBad(f, vote) {
        await expect(f.alliance.connect(f.aggregator).finalizeRound(f.taskId, f.round, f.modelHash, [vote], []))
          .to.be.revertedWithCustomError(f.alliance, "BadSignature")
          .withArgs(vote.voter);
      }

      it("signed by another key", async function () {
        const f = await loadFixture(openRound);
        const other = await signVote(f.alliance, f.v[1], f.taskId, f.round, f.modelHash, 1);
        await expectBad(f, { ...other, voter: f.v[0].address });
      });

      it("signed for another model hash, score, round or task", async function () {
        const f = await loadFixture(openRound);
        const { alliance, taskId, round, modelHash, v } = f;
        const s = (t, r, m, sc) => signVote(alliance, v[0], t, r, m, sc);
        await expectBad(f, { ...(await s(taskId, round, ethers.id("other model"), 1)), score: 1 });
        await expectBad(f, { ...(await s(taskId, round, modelHash, -1)), score: 1 });
        await expectBad(f, { ...(await s(taskId, round + 1n, modelHash, 1)), score: 1 });
        await expectBad(f, { ...(await s(taskId + 1n, round, modelHash, 1)), score: 1 });
      });

      it("signed for another domain (chain id, contract, name, version)", async function () {
        const f = await loadFixture(openRound);
        const { alliance, taskId, round, modelHash, v } = f;
        const d = await domain(alliance);
        const value = { taskId, round, modelHash, score: 1 };
        for (const over of [
          { chainId: 1n },
          { verifyingContract: f.token.target },
          { name: "murmuration" },
          { version: "2" },
        ]) {
          const sig = await v[0].signTypedData({ ...d, ...over }, VOTE_TYPES, value);
          await expectBad(f, { voter: v[0].address, score: 1, signature: sig });
        }
      });

      it("malformed: empty, 64 bytes, garbage, bad v, high s", async function () {
        const f = await loadFixture(openRound);
        const good = await signVote(f.alliance, f.v[0], f.taskId, f.round, f.modelHash, 1);
        const sig = ethers.Signature.from(good.signature);
        const highS = ethers.concat([
          sig.r,
          ethers.toBeHex(SECP256K1_N - BigInt(sig.s), 32),
          ethers.toBeHex(sig.v === 27 ? 28 : 27, 1),
        ]);
        const badV = ethers.concat([sig.r, sig.s, "0x01"]);
        for (const signature of ["0x", ethers.dataSlice(good.signature, 0, 64), ethers.hexlify(ethers.randomBytes(65)), badV, highS]) {
          await expectBad(f, { ...good, signature });
        }
        // The same vote, well-formed, is accepted.
        await f.alliance.connect(f.aggregator).finalizeRound(f.taskId, f.round, f.modelHash, [good], []);
      });
    });

    it("WrongRole: a proposer votes; a voter is flagged as proposer", async function () {
      const { alliance, aggregator, taskId, round, modelHash, p, v } = await loadFixture(openRound);
      const vote = await signVote(alliance, p[0], taskId, round, modelHash, 1);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [vote], []))
        .to.be.revertedWithCustomError(alliance, "WrongRole")
        .withArgs(p[0].address, 0n);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], [v[0].address]))
        .to.be.revertedWithCustomError(alliance, "WrongRole")
        .withArgs(v[0].address, 1n);
    });

    it("NotParticipant: never joined, or joined after the round started", async function () {
      const f = await loadFixture(openRound);
      const { alliance, aggregator, taskId, round, modelHash, nodes, outsider } = f;
      const stranger = await signVote(alliance, outsider, taskId, round, modelHash, 1);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [stranger], []))
        .to.be.revertedWithCustomError(alliance, "NotParticipant")
        .withArgs(outsider.address);
      const late = nodes[11];
      await stakeAndJoin(f, taskId, late, 1000n);
      const lateVote = await signVote(alliance, late, taskId, round, modelHash, 1);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [lateVote], []))
        .to.be.revertedWithCustomError(alliance, "NotParticipant")
        .withArgs(late.address);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], [late.address]))
        .to.be.revertedWithCustomError(alliance, "NotParticipant")
        .withArgs(late.address);
    });

    it("DuplicateVote (same or opposite score), DuplicateFlag; a failed finalize changes nothing", async function () {
      const { alliance, aggregator, taskId, round, modelHash, p, v } = await loadFixture(openRound);
      const up = await signVote(alliance, v[0], taskId, round, modelHash, 1);
      const down = await signVote(alliance, v[0], taskId, round, modelHash, -1);
      const other = await signVote(alliance, v[1], taskId, round, modelHash, 1);
      for (const votes of [[up, other, up], [up, down]]) {
        await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, votes, []))
          .to.be.revertedWithCustomError(alliance, "DuplicateVote")
          .withArgs(v[0].address);
      }
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], [p[0].address, p[1].address, p[0].address]))
        .to.be.revertedWithCustomError(alliance, "DuplicateFlag")
        .withArgs(p[0].address);
      await alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [up, other], [p[0].address]);
      expect((await alliance.getRound(taskId, round)).voteSum).to.equal(2000n);
    });
  });

  describe("abandonRound", function () {
    it("RoundNotOpen, RoundNotExpired; then anyone after the timeout; the round pays nothing", async function () {
      const { alliance, aggregator, taskId, round, modelHash, outsider, v } = await loadFixture(openRound);
      const started = (await alliance.getRound(taskId, round)).startedAt;
      const deadline = started + 7n * 24n * 3600n;
      await expect(alliance.connect(outsider).abandonRound(taskId))
        .to.be.revertedWithCustomError(alliance, "RoundNotExpired")
        .withArgs(deadline);
      await time.increaseTo(deadline);
      const poolBefore = (await alliance.getTask(taskId)).pool;
      await expect(alliance.connect(outsider).abandonRound(taskId))
        .to.emit(alliance, "RoundAbandoned")
        .withArgs(taskId, round, outsider.address);
      expect((await alliance.getRound(taskId, round)).state).to.equal(3n); // Abandoned
      expect((await alliance.nodeInfo(taskId, v[0].address)).bound).to.equal(false);
      await expect(alliance.connect(aggregator).abandonRound(taskId))
        .to.be.revertedWithCustomError(alliance, "RoundNotOpen")
        .withArgs(round);
      await expect(alliance.connect(aggregator).finalizeRound(taskId, round, modelHash, [], []))
        .to.be.revertedWithCustomError(alliance, "RoundNotOpen")
        .withArgs(round);
      const t = await alliance.getTask(taskId);
      expect(t.pool).to.equal(poolBefore);
      expect(t.finalizedRounds).to.equal(0n);
      // The next round is round + 1 and still pays pool / totalRounds.
      await alliance.connect(aggregator).startRound(taskId);
      expect((await alliance.getTask(taskId)).currentRound).to.equal(round + 1n);
      expect(await alliance.roundReward(taskId)).to.equal(poolBefore / 3n);
    });

    it("the aggregator may abandon at once", async function () {
      const { alliance, aggregator, taskId, round } = await loadFixture(openRound);
      await expect(alliance.connect(aggregator).abandonRound(taskId)).to.emit(alliance, "RoundAbandoned").withArgs(taskId, round, aggregator.address);
    });
  });

  it("NothingToClaim", async function () {
    const { alliance, taskId, v, creator } = await loadFixture(openRound);
    await expect(alliance.connect(v[0]).claim(taskId)).to.be.revertedWithCustomError(alliance, "NothingToClaim");
    await expect(alliance.connect(creator).claim(taskId)).to.be.revertedWithCustomError(alliance, "NothingToClaim");
  });
});
