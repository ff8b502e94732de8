// AllianceTaskV2 with hostile tokens: a fee-on-transfer token is refused, and a token that calls
// back into the contract from inside a transfer cannot re-enter claim / withdraw / stake.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const h = require("./helpersV2");

describe("AllianceTaskV2 with hostile tokens", function () {
  it("refuses fee-on-transfer tokens", async function () {
    const [creator, aggregator] = await ethers.getSigners();
    const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
    const fee = await (await ethers.getContractFactory("FeeOnTransferToken")).deploy();
    await fee.mint(creator.address, 10n ** 6n);
    await fee.approve(v2.target, 10n ** 6n);
    await expect(v2.createTask(h.paramsV2(fee, aggregator))).to.be.revertedWithCustomError(v2, "UnsupportedToken");
  });

  it("cannot be re-entered from a token transfer", async function () {
    const [creator, aggregator, node] = await ethers.getSigners();
    const v2 = await (await ethers.getContractFactory("AllianceTaskV2")).deploy();
    const tok = await (await ethers.getContractFactory("ReentrantToken")).deploy();
    await tok.mint(creator.address, 1000n);
    await tok.approve(v2.target, 1000n);
    await v2.createTask(h.paramsV2(tok, aggregator, { rewardPool: 1000n, windows: { unbonding: 10n } }));
    await tok.mint(node.address, 500n);
    await tok.connect(node).approve(v2.target, 500n);
    await v2.connect(node).stake(1, 500n);
    await v2.connect(node).unstake(1, 200n);
    await h.increase(86400);
    await v2.cancelTask(1);
    const reenter = v2.interface.encodeFunctionData("claim", [1]);
    for (const [who, call] of [
      [creator, () => v2.connect(creator).claim(1)],
      [node, () => v2.connect(node).withdraw(1)],
    ]) {
      await tok.arm(v2.target, reenter);
      await expect(call()).to.be.revertedWithCustomError(v2, "ReentrancyGuardReentrantCall");
      await tok.arm(ethers.ZeroAddress, "0x");
      await call();
      expect(await tok.balanceOf(who.address)).to.be.greaterThan(0n);
    }
    expect(await tok.balanceOf(v2.target)).to.equal(300n); // the node's remaining stake
  });
});
