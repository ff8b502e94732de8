// Rewrites the expected values of contracts/test/median_cases.json, the shared cases table of
// AllianceTaskV2's settlement rule (issue 16), from the JS model (test/helpersV2.js settleV2),
// keeping every case's inputs. The table is then checked against the Solidity library
// (test/median_cases.test.js) and the C++ twin (tests/chain/median_settlement_test.cpp); the
// worked cases' notes say what each shows and median_cases.test.js checks their key outcomes.
//
//   node scripts/median-cases.js            (from contracts/; rerun only when the rule changes)
const fs = require("fs");
const path = require("path");
const { settleV2, caseInput, KIND } = require("../test/helpersV2");

const FILE = path.join(__dirname, "..", "test", "median_cases.json");

function expectedOf(c) {
  const x = caseInput(c);
  const o = settleV2(x);
  const s = (v) => v.toString();
  return {
    quorum: o.quorum,
    median: s(o.median),
    accepted: o.accepted,
    revealedStake: s(o.revealedStake),
    voterStake: s(o.voterStake),
    winnerStake: s(o.winnerStake),
    pot: s(o.pot),
    paid: s(o.paid),
    slashed: s(o.slashed),
    poolAfter: s(o.poolAfter),
    creatorCredit: s(o.creatorCredit),
    nodes: Object.fromEntries(
      c.nodes.map((n, i) => {
        const e = { reward: s(o.reward[i]), slash: s(o.slash[i]) };
        if (o.quorum && x.nodes[i].kind === KIND.revealed) e.disagreements = Number(o.disagreements[i]);
        return [n.id, e];
      })
    ),
  };
}

function main() {
  const table = JSON.parse(fs.readFileSync(FILE, "utf8"));
  for (const c of table.cases) c.expected = expectedOf(c);
  fs.writeFileSync(FILE, JSON.stringify(table, null, 1) + "\n");
  console.log(`${table.cases.length} cases written to ${path.relative(process.cwd(), FILE)}`);
}

if (require.main === module) main();

module.exports = { expectedOf };
