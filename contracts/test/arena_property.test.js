// ArenaTask (issue 17): seeded random sequences of stake / delegate / undelegate / submit / close /
// draw / commit / reveal / time jumps / finalize / claim / withdraw, one task per sequence on one
// deployment. After every step, applied or refused: the contract holds exactly what it owes for the
// task (pool + creator balance + every own stake + every reward + every delegation) on top of what
// it held before the sequence. Every finalization equals the JS model; after every sequence that
// finalized, everyone takes everything back and the contract is back where it started.
// ARENA_PROPERTY_SEQUENCES changes the count (default 200); PROPERTY_SHARD=k/n runs a part of them
// (test/propertyShard.js).
const { expect } = require("chai");
const { ethers } = require("hardhat");
const h = require("./helpersArena");
const { rawView } = require("./rawView");
const { propertyShard } = require("./propertyShard");

const E = 10n ** 18n;
const SEQUENCES = Number(process.env.ARENA_PROPERTY_SEQUENCES || 200);
const STEPS = 40;
const SHARD = propertyShard(SEQUENCES);

describe("ArenaTask property: every token accounted for after every step", function () {
  it(`${SHARD.seqs.length} random sequences${SHARD.label}`, async function () {
    const ctx = await h.deployArena();
    const { arena, token, signers } = ctx;
    const stats = { applied: 0, refused: 0, finalized: 0, steps: 0 };
    for (const seq of SHARD.seqs) {
      const r = h.rng(9000 + seq);
      const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
      const pick = (a) => a[int(0, a.length - 1)];
      const creator = signers[1 + (seq % 4)];
      const actors = signers.slice(10 + (seq % 5) * 8, 18 + (seq % 5) * 8);
      const k = int(1, 4);
      const taskId = await h.createArenaTask(ctx, { validatorsPerSubmission: k, minNodeStake: E, minValidatorStake: E, slashBps: pick([0, 5000, 10000]), gammaBps: int(0, 10000), rankRatioBps: int(1, 9999), toleranceBps: int(1, 10000), rewardPool: BigInt(int(0, 5000)) * E }, creator);
      const start = (await token.balanceOf(arena.target)) - (await arena.getTask(taskId)).pool;
      const kind = new Map(actors.map((a) => [a.address, pick(["honest", "honest", "random", "silent"])]));
      const pairs = new Set(); // "delegator delegate"
      const salts = new Map();
      const truth = Array.from({ length: 8 }, () => BigInt(int(200_000, 3_000_000)));
      const scoreOf = (v, s) => (kind.get(v) === "random" ? BigInt(int(0, 5_000_000)) : truth[s] + BigInt(int(-2000, 2000)));
      const scores = new Map();

      // The reads of the check after every step, through raw eth_calls (test/rawView.js);
      // the first sequence checks them against the same reads through the contract objects.
      const who = [...actors, creator].map((a) => a.address);
      const readTask = rawView(arena, "getTask", [taskId]);
      const readParts = who.map((a) => rawView(arena, "participant", [taskId, a]));
      const readRewards = who.map((a) => rawView(arena, "rewardOf", [taskId, a]));
      const readDels = new Map(); // "delegator delegate" -> read
      const readHeld = rawView(token, "balanceOf", [arena.target]);
      const owed = async () => {
        for (const p of pairs) if (!readDels.has(p)) readDels.set(p, rawView(arena, "delegationOf", [taskId, p.split(" ")[1], p.split(" ")[0]]));
        const [t, parts, rewards, dels] = await Promise.all([
          readTask(),
          Promise.all(readParts.map((r) => r())),
          Promise.all(readRewards.map((r) => r())),
          Promise.all([...readDels.values()].map((r) => r())),
        ]);
        if (seq === SHARD.seqs[0]) {
          const t1 = await arena.getTask(taskId);
          expect([t.pool, t.creatorBalance], "rawView getTask").to.deep.equal([t1.pool, t1.creatorBalance]);
          for (const [i, a] of who.entries()) {
            expect(parts[i].stake, "rawView participant").to.equal((await arena.participant(taskId, a)).stake);
            expect(rewards[i], "rawView rewardOf").to.equal(await arena.rewardOf(taskId, a));
          }
          for (const [p, r] of readDels) expect(await r(), "rawView delegationOf").to.equal(await arena.delegationOf(taskId, p.split(" ")[1], p.split(" ")[0]));
        }
        return [t.pool, t.creatorBalance, ...parts.map((p) => p.stake), ...rewards, ...dels].reduce((x, y) => x + y, 0n);
      };
      const checkHeld = async (what) => {
        const held = await readHeld();
        if (seq === SHARD.seqs[0]) expect(held, "rawView balanceOf").to.equal(await token.balanceOf(arena.target));
        expect(held - start, `seq ${seq} after ${what}`).to.equal(await owed());
      };
      const attempt = async (what, fn) => {
        let ok = false;
        stats.steps += 1;
        try {
          await (await fn()).wait();
          stats.applied += 1;
          ok = true;
        } catch (e) {
          if (!/reverted/.test(String(e.message))) throw e;
          stats.refused += 1;
          if (process.env.ARENA_DEBUG) console.log(what, String(e.message).slice(0, 160));
        }
        await checkHeld(what);
        return ok;
      };
      const role = new Map(); // address -> ROLE, as staked
      const staked = (want) => actors.filter((x) => role.get(x.address) === want);
      const mostly = (list) => (list.length > 0 && r() < 0.9 ? pick(list) : pick(actors));
      const now = async () => BigInt((await ethers.provider.getBlock("latest")).timestamp);

      let afterEnd = 0;
      for (let step = 0; step < STEPS; ++step) {
        const t = await arena.getTask(taskId);
        const a = pick(actors);
        const phase = Number(t.phase);
        const x = r();
        if (phase === h.PHASE.finalized && ++afterEnd > 5) break;
        if (phase === h.PHASE.open && (step < 12 ? x < 0.95 : x < 0.3)) {
          const y = r();
          if (y < 0.45) {
            await h.fundAndApprove(token, arena, a, 100n * E);
            const want = role.get(a.address) !== undefined && r() < 0.9 ? role.get(a.address) : pick([h.ROLE.node, h.ROLE.validator]);
            if (await attempt("stake", () => arena.connect(a).stake(taskId, want, BigInt(int(0, 50)) * E + BigInt(int(0, 999)), int(0, 6000)))) role.set(a.address, want);
          } else if (y < 0.65) {
            const to = mostly([...staked(h.ROLE.node), ...staked(h.ROLE.validator)]);
            await h.fundAndApprove(token, arena, a, 100n * E);
            pairs.add(`${a.address} ${to.address}`);
            await attempt("delegate", () => arena.connect(a).delegate(taskId, to.address, BigInt(int(1, 30)) * E));
          } else if (y < 0.75) {
            const to = pick(actors);
            await attempt("undelegate", () => arena.connect(a).undelegate(taskId, to.address, BigInt(int(0, 20)) * E));
          } else {
            const n = mostly(staked(h.ROLE.node));
            await attempt("submit", () => arena.connect(n).submit(taskId, ethers.id(`seq ${seq} ${n.address} ${int(0, 3)}`), `file:///s/${seq}`));
          }
        } else if (phase === h.PHASE.open) {
          if (step >= 12) await h.increase(t.submitDeadline - (await now()) + 1n);
          await attempt("close", () => arena.connect(a).closeSubmissions(taskId));
        } else if (phase === h.PHASE.sealing) {
          if (x < 0.8) await h.mine(3);
          await attempt("draw", () => arena.connect(a).drawAssignments(taskId));
        } else if (phase === h.PHASE.scoring) {
          const tnow = await now();
          const subs = Number(t.submissionCount);
          if (tnow <= t.commitDeadline && x < 0.75) {
            const a = mostly(staked(h.ROLE.validator));
            const mine = [];
            for (let s = 0; s < subs; ++s) if ((await arena.assignees(taskId, s)).includes(a.address) && !scores.has(`${a.address} ${s}`)) mine.push(s);
            const salt = ethers.id(`salt ${seq} ${a.address}`);
            salts.set(a.address, salt);
            for (const s of mine) scores.set(`${a.address} ${s}`, scoreOf(a.address, s));
            const list = mine.length > 0 ? mine : [int(0, Math.max(0, subs - 1))];
            await attempt("commit", () => arena.connect(a).commitScores(taskId, list, list.map((s) => h.commitmentOf(taskId, s, a.address, scores.get(`${a.address} ${s}`) ?? 1n, salt))));
          } else if (tnow <= t.commitDeadline) {
            await h.increase(t.commitDeadline - tnow + 1n);
          } else if (tnow <= t.revealDeadline && x < 0.8) {
            const a = mostly(staked(h.ROLE.validator));
            const mine = [];
            for (let s = 0; s < subs; ++s) {
              const e = await arena.scoreOf(taskId, s, a.address);
              if (e.commitment !== ethers.ZeroHash && !e.revealed && scores.has(`${a.address} ${s}`)) mine.push(s);
            }
            if (kind.get(a.address) === "silent" || mine.length === 0) {
              await attempt("early finalize", () => arena.connect(a).finalize(taskId));
            } else {
              await attempt("reveal", () => arena.connect(a).revealScores(taskId, mine, mine.map((s) => scores.get(`${a.address} ${s}`)), mine.map(() => salts.get(a.address))));
            }
          } else {
            if (tnow <= t.revealDeadline) await h.increase(t.revealDeadline - tnow + 1n);
            const x0 = await h.modelInput(arena, taskId);
            const ex = h.arenaSettle(x0);
            const rc = await (await arena.connect(a).finalize(taskId)).wait();
            stats.applied += 1;
            stats.finalized += 1;
            const fin = rc.logs.map((l) => arena.interface.parseLog(l)).find((e) => e && e.name === "TaskFinalized");
            expect(fin.args.paid, `seq ${seq} paid`).to.equal(ex.paid);
            expect(fin.args.slashed, `seq ${seq} slashed`).to.equal(ex.slashed);
            expect(fin.args.creatorCredit, `seq ${seq} creatorCredit`).to.equal(ex.creatorCredit);
            for (let s = 0; s < subs; ++s) expect((await arena.resultOf(taskId, s)).reward, `seq ${seq} sub ${s}`).to.equal(ex.nodeReward[s]);
            await checkHeld("finalize");
          }
        } else {
          // Finalized: claims, withdrawals, undelegations in random order.
          const y = r();
          if (y < 0.4) await attempt("claim", () => arena.connect(pick([...actors, creator])).claim(taskId));
          else if (y < 0.7) await attempt("withdraw", () => arena.connect(a).withdraw(taskId));
          else {
            const to = pick(actors);
            const have = await arena.delegationOf(taskId, to.address, a.address);
            await attempt("undelegate", () => arena.connect(a).undelegate(taskId, to.address, have + BigInt(int(0, 1))));
          }
        }
      }
      const t = await arena.getTask(taskId);
      if (Number(t.phase) !== h.PHASE.finalized) continue;
      // Everyone takes everything back: the contract returns to where it was before the sequence.
      for (const w of [...actors, creator]) {
        if ((await arena.rewardOf(taskId, w.address)) > 0n || (w === creator && (await arena.getTask(taskId)).creatorBalance > 0n)) await arena.connect(w).claim(taskId);
        if ((await arena.participant(taskId, w.address)).stake > 0n) await arena.connect(w).withdraw(taskId);
      }
      for (const p of pairs) {
        const [d, to] = p.split(" ");
        const have = await arena.delegationOf(taskId, to, d);
        if (have > 0n) await arena.connect(h.by(ctx, d)).undelegate(taskId, to, have);
      }
      expect(await token.balanceOf(arena.target), `seq ${seq} drained`).to.equal(start);
    }
    console.log(`      ${SHARD.seqs.length} sequences: ${stats.steps} steps, ${stats.applied} applied, ${stats.refused} refused, ${stats.finalized} finalized by settlement`);
    expect(stats.finalized).to.be.greaterThan(SHARD.seqs.length / 4);
    expect(stats.applied).to.be.greaterThan(stats.refused / 4);
  });
});
