// Gas of one ArenaTask for a few sizes (scripts/gas-arena.js prints the same table for
// contracts/README.md); at the largest size the contract allows (64 nodes, 64 validators, k = 8, 64 delegations)
// every transaction stays below ¾ of the 2^24 per-transaction gas cap (EIP-7825).
const { expect } = require("chai");
const { measure, table, SIZES, TX_GAS_CAP } = require("../scripts/gas-arena");

describe("ArenaTask gas per task", function () {
  it(SIZES.map((s) => s.join("/")).join(", "), async function () {
    const rows = [];
    for (const [i, [n, m, k, d]] of SIZES.entries()) rows.push(await measure(n, m, k, d, i * 10000));
    console.log(table(rows).replace(/^/gm, "      "));
    const last = rows[rows.length - 1];
    expect([last.n, last.m, last.k, last.delegators]).to.deep.equal([64, 64, 8, 64]); // MAX_NODES, MAX_VALIDATORS, MAX_K, MAX_DELEGATIONS
    for (const key of ["finalize", "draw", "commit", "reveal"]) expect(last.gas[key], key).to.be.lessThan((TX_GAS_CAP * 3n) / 4n);
  });
});
