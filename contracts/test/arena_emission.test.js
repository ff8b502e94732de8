// ArenaEmission (issue 17): the daily emission split across AI Arena tasks and an FL Alliance
// (AllianceTaskV2) task by stake, share = emitted · stake / Σ stake, every token accounted for.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture } = require("@nomicfoundation/hardhat-network-helpers");
const h = require("./helpersArena");
const v2h = require("./helpersV2");

const E = 10n ** 18n;
const PER_DAY = 1000n * E;

async function fixture() {
  const ctx = await h.deployArena();
  const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
  const emission = await (await ethers.getContractFactory("ArenaEmission")).deploy(ctx.token.target, PER_DAY, ctx.creator.address);
  const source = await (await ethers.getContractFactory("AllianceV2StakeSource")).deploy(v2.target);
  return { ...ctx, v2, emission, source };
}

async function held(emission) {
  let owed = 0n;
  for (let i = 0n; i < (await emission.entryCount()); ++i) owed += (await emission.entryOf(i)).owed;
  return (await emission.reserve()) + owed;
}

describe("ArenaEmission", function () {
  it("splits each day's emission across Arena and FL Alliance tasks by stake and hands it over", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, emission, source, v2, others, creator } = ctx;
    const a1 = await h.createArenaTask(ctx);
    const a2 = await h.createArenaTask(ctx);
    await h.populate(ctx, a1, { nodes: [{ who: others[0], stake: 100n * E }], validators: [{ who: others[1], stake: 200n * E }], delegations: [{ from: others[2], to: others[0], amount: 100n * E }] });
    await h.populate(ctx, a2, { nodes: [{ who: others[3], stake: 50n * E }], validators: [{ who: others[4], stake: 50n * E }] });
    const v2ctx = { token, v2, aggregator: others[9], creator, signers: ctx.signers };
    const f1 = await v2h.createTaskV2(v2ctx, { minStake: E });
    for (const n of others.slice(5, 8)) await v2h.stakeJoin(v2ctx, f1, n, 100n * E);
    await v2h.stakeJoin(v2ctx, f1, others[8], 7n * E, false); // staked, never joined: not counted (README)
    expect(await source.taskStake(f1)).to.equal(300n * E);
    expect(await arena.taskStake(a1)).to.equal(400n * E);
    expect(await arena.taskStake(a2)).to.equal(100n * E);

    await emission.registerTask(arena.target, a1, true, ethers.ZeroAddress);
    await emission.registerTask(arena.target, a2, true, ethers.ZeroAddress);
    await emission.registerTask(source.target, f1, false, others[10].address);
    await expect(emission.connect(others[0]).registerTask(arena.target, a1, true, ethers.ZeroAddress)).to.be.revertedWithCustomError(emission, "OwnableUnauthorizedAccount");
    await expect(emission.registerTask(source.target, f1, false, ethers.ZeroAddress)).to.be.revertedWithCustomError(emission, "BadEmissionParams");
    await token.mint(creator.address, 10_000n * E);
    await token.approve(emission.target, ethers.MaxUint256);
    await emission.fund(2500n * E);

    expect(await emission.distribute.staticCall()).to.equal(0n); // no whole day yet
    await h.increase(86400);
    await emission.distribute();
    const total = 800n * E;
    const share = (s) => (PER_DAY * s) / total;
    expect((await emission.entryOf(0)).owed).to.equal(share(400n * E));
    expect((await emission.entryOf(1)).owed).to.equal(share(100n * E));
    expect((await emission.entryOf(2)).owed).to.equal(share(300n * E));
    expect(await token.balanceOf(emission.target)).to.equal(await held(emission));

    // Arena credit goes into the task's pool; the V2 task's credit to its recipient.
    const pool = (await arena.getTask(a1)).pool;
    await emission.connect(others[0]).pay(0);
    expect((await arena.getTask(a1)).pool).to.equal(pool + share(400n * E));
    await emission.pay(2);
    expect(await token.balanceOf(others[10].address)).to.equal(share(300n * E));
    await expect(emission.pay(2)).to.be.revertedWithCustomError(emission, "NothingOwed");

    // Two more days at once, a finished task gets nothing, a removed one returns its credit.
    await h.closeAndDraw(arena, a2, creator); // a2 runs on (stake counted)
    await h.increase(2 * 86400);
    await emission.removeTask(1);
    const lastDay = await emission.lastDay();
    await emission.distribute();
    const days = (await emission.lastDay()) - lastDay; // 2 (3 if the test crossed a UTC midnight)
    expect(days >= 2n).to.equal(true);
    // Only 2500 - 1000 + 125 (a2's credit returned) = 1625 left in reserve: min(days·1000, 1625) emitted.
    const emitted = 1625n * E < days * PER_DAY ? 1625n * E : days * PER_DAY;
    const total2 = 700n * E;
    expect((await emission.entryOf(0)).owed).to.equal((emitted * 400n * E) / total2);
    expect((await emission.entryOf(2)).owed).to.equal((emitted * 300n * E) / total2);
    expect(await token.balanceOf(emission.target)).to.equal(await held(emission));
    expect(await emission.reserve()).to.be.lessThan(10n);
  });

  it("emits nothing while no task has stake, and refuses bad parameters", async function () {
    const ctx = await loadFixture(fixture);
    const { arena, token, emission, creator } = ctx;
    await expect((await ethers.getContractFactory("ArenaEmission")).deploy(token.target, 0, creator.address)).to.be.revertedWithCustomError(emission, "BadEmissionParams");
    const a1 = await h.createArenaTask(ctx);
    await emission.registerTask(arena.target, a1, true, ethers.ZeroAddress);
    await token.mint(creator.address, 1000n * E);
    await token.approve(emission.target, ethers.MaxUint256);
    await emission.fund(1000n * E);
    await h.increase(86400);
    await emission.distribute();
    expect(await emission.reserve()).to.equal(1000n * E);
    await expect(emission.pay(0)).to.be.revertedWithCustomError(emission, "NothingOwed");
    await expect(emission.pay(5)).to.be.revertedWithCustomError(emission, "UnknownEntry");
  });
});
