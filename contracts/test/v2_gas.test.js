// Gas of one AllianceTaskV2 round for 20, 100 and 500 members (scripts/gas-v2.js prints the same
// table for contracts/README.md); every transaction of the 500-member round stays below ¾ of the
// 2^24 per-transaction gas cap (EIP-7825), and MAX_MEMBERS is 500.
const { expect } = require("chai");
const { measure, table, TX_GAS_CAP } = require("../scripts/gas-v2");

describe("AllianceTaskV2 gas per round", function () {
  it("20, 100 and 500 members", async function () {
    const rows = [await measure(20, 0), await measure(100, 1000), await measure(500, 2000)];
    console.log(table(rows).replace(/^/gm, "      "));
    for (const { n, gas } of rows)
      for (const k of ["openRound", "drawRoles", "postCandidate", "finalizeRound", "revealVoteWithObjection"])
        expect(gas[k], `${k} at ${n} members`).to.be.lessThan((TX_GAS_CAP * 3n) / 4n);
    // Linear, not quadratic: finalize per member stays within a factor 1.5 from 100 to 500.
    const per = (r) => Number(r.gas.finalizeRound) / r.n;
    expect(per(rows[2]) / per(rows[1])).to.be.lessThan(1.5);
  });
});
