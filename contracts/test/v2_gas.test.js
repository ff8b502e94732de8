// Gas of one AllianceTaskV2 round for 20, 100 and 500 members (scripts/gas-v2.js prints the same
// table for contracts/README.md), plus the 500-member round in which every voter objects to every
// update (every voter's bitmap kept at reveal and read at finalize). Every transaction stays below
// the 2^24 per-transaction gas cap (EIP-7825) in every row, MAX_MEMBERS is 500, and every
// transaction of the usual rows but the 500-member finalizeRound stays below ¾ of it.
const { expect } = require("chai");
const { measure, table, TX_GAS_CAP } = require("../scripts/gas-v2");

describe("AllianceTaskV2 gas per round", function () {
  it("20, 100 and 500 members, and 500 with every voter objecting to every update", async function () {
    const rows = [await measure(20, 0), await measure(100, 1000), await measure(500, 2000)];
    const worst = await measure(500, 3000, { objectAll: true });
    console.log(table([...rows, worst]).replace(/^/gm, "      "));
    const steps = ["openRound", "drawRoles", "postCandidate", "finalizeRound", "revealVoteWithObjection"];
    for (const { n, objectAll, gas } of [...rows, worst])
      for (const k of steps) {
        expect(gas[k], `${k} at ${n} members${objectAll ? ", all objecting" : ""}`).to.be.lessThan(TX_GAS_CAP);
        if (!objectAll && !(n === 500 && k === "finalizeRound"))
          expect(gas[k], `${k} at ${n} members`).to.be.lessThan((TX_GAS_CAP * 3n) / 4n);
      }
    // Linear, not quadratic: finalize per member stays within a factor 1.5 from 100 to 500.
    const per = (r) => Number(r.gas.finalizeRound) / r.n;
    expect(per(rows[2]) / per(rows[1])).to.be.lessThan(1.5);
  });
});
