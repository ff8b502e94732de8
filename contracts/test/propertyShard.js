// PROPERTY_SHARD=k/n: a property test runs only its sequences whose number is k modulo n, so that
// ctest can run a property test's sequences as n tests side by side (tests/CMakeLists.txt runs
// the Arena property test's 200 sequences as two tests, every sequence exactly once).
// Unset (npx hardhat test): every sequence.
function propertyShard(total) {
  const all = [...Array(total).keys()];
  const v = process.env.PROPERTY_SHARD;
  if (!v) return { seqs: all, label: "" };
  const m = /^([0-9]+)\/([0-9]+)$/.exec(v);
  if (!m || Number(m[1]) >= Number(m[2])) throw new Error(`PROPERTY_SHARD=${v}: expected k/n with 0 <= k < n`);
  const [k, n] = [Number(m[1]), Number(m[2])];
  return { seqs: all.filter((s) => s % n === k), label: ` (PROPERTY_SHARD ${k}/${n}: the sequences ≡ ${k} mod ${n})` };
}

module.exports = { propertyShard };
