// murmur-tokenize: plain-text evaluation data -> the token-id JSONL that `murmur validate` reads
// (arena/include/murmur/arena/eval_data.hpp), with a sentencepiece model.
//
// Its own process on purpose: Debian's libsentencepiece0 carries its own copy of protobuf-lite
// and exports its symbols, and a process that also loads libtorch's libprotobuf crashes in
// protobuf's static initialisers before main. So this program links sentencepiece and the C++
// standard library only (no libtorch, no protobuf of ours), and `murmur validate --tokenizer`
// runs it as a child and reads its output file.
//
// Input, one JSON object a line (blank lines skipped):
//   {"prompt": "...", "completion": "..."}                  the completion is the target
//   {"messages": [{"role": "user", "content": "..."},        every assistant message is a
//                 {"role": "assistant", "content": "..."}]}   target, everything else context
// Each piece is encoded on its own and the ids concatenated (as SFT evaluation does), after
// the model's BOS id (unless --no-bos); with --eos the model's EOS id follows every target
// piece and counts as a target. "bytes" in the output is the UTF-8 byte count of the target
// text, for bits per byte.
//
// Exit status 0 on success; 1 with "FILE:LINE: why" on stderr for bad input; 2 for usage.
#include <sentencepiece_processor.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

constexpr long long kIgnore = -100;

struct Options {
  std::string model, in, out;
  bool bos = true, eos = false;
  std::size_t max_positions = 0;  // 0: no limit
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "murmur-tokenize: %s\n"
               "usage: murmur-tokenize --model M.model --in text.jsonl --out ids.jsonl"
               " [--no-bos] [--eos] [--max-positions N]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value after " + a).c_str());
      return argv[++i];
    };
    if (a == "--model")
      o.model = value();
    else if (a == "--in")
      o.in = value();
    else if (a == "--out")
      o.out = value();
    else if (a == "--no-bos")
      o.bos = false;
    else if (a == "--eos")
      o.eos = true;
    else if (a == "--max-positions")
      o.max_positions = std::stoul(value());
    else
      usage(("unknown option " + a).c_str());
  }
  if (o.model.empty() || o.in.empty() || o.out.empty())
    usage("--model, --in and --out are required");
  return o;
}

/// One sequence being built: ids, labels (the id where it is a target, -100 elsewhere), bytes.
struct Sequence {
  std::vector<long long> ids, labels;
  std::size_t target_bytes = 0;
};

void append(const sentencepiece::SentencePieceProcessor& sp, const Options& o, Sequence& s,
            const std::string& text, bool target) {
  std::vector<int> ids;
  const auto status = sp.Encode(text, &ids);
  if (!status.ok())
    throw std::runtime_error("sentencepiece cannot encode the text: " + status.ToString());
  for (int id : ids) {
    s.ids.push_back(id);
    s.labels.push_back(target ? id : kIgnore);
  }
  if (target) {
    s.target_bytes += text.size();
    if (o.eos && sp.eos_id() >= 0) {
      s.ids.push_back(sp.eos_id());
      s.labels.push_back(sp.eos_id());
    }
  }
}

const std::string& text_field(const nlohmann::json& j, const char* key) {
  if (!j.contains(key) || !j.at(key).is_string())
    throw std::runtime_error(std::string("\"") + key + "\" must be a string");
  return j.at(key).get_ref<const std::string&>();
}

Sequence tokenize_line(const sentencepiece::SentencePieceProcessor& sp, const Options& o,
                       const nlohmann::json& j) {
  if (!j.is_object()) throw std::runtime_error("each line must be a JSON object");
  Sequence s;
  if (o.bos && sp.bos_id() >= 0) {
    s.ids.push_back(sp.bos_id());
    s.labels.push_back(kIgnore);
  }
  if (j.contains("messages")) {
    const auto& messages = j.at("messages");
    if (!messages.is_array() || messages.empty())
      throw std::runtime_error("\"messages\" must be a non-empty array");
    for (const auto& m : messages) {
      if (!m.is_object()) throw std::runtime_error("each message must be an object");
      const std::string& role = text_field(m, "role");
      append(sp, o, s, text_field(m, "content"), role == "assistant");
    }
  } else if (j.contains("prompt") || j.contains("completion")) {
    append(sp, o, s, text_field(j, "prompt"), false);
    append(sp, o, s, text_field(j, "completion"), true);
  } else {
    throw std::runtime_error("expected \"prompt\" and \"completion\", or \"messages\"");
  }
  // labels[0] is never predicted (eval_data.hpp): a target must come after the first token.
  bool any = false;
  for (std::size_t t = 1; t < s.labels.size(); ++t) any = any || s.labels[t] != kIgnore;
  if (!any)
    throw std::runtime_error("no target tokens (an empty completion or no assistant message)");
  if (o.max_positions > 0 && s.ids.size() > o.max_positions)
    throw std::runtime_error(std::to_string(s.ids.size()) + " tokens, more than the model's " +
                             std::to_string(o.max_positions) + " positions");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  sentencepiece::SentencePieceProcessor sp;
  if (const auto status = sp.Load(o.model); !status.ok()) {
    std::fprintf(stderr, "%s: not a sentencepiece model: %s\n", o.model.c_str(),
                 status.ToString().c_str());
    return 1;
  }
  std::ifstream in(o.in);
  if (!in) {
    std::fprintf(stderr, "%s: cannot read: %s\n", o.in.c_str(), std::strerror(errno));
    return 1;
  }
  std::ofstream out(o.out);
  if (!out) {
    std::fprintf(stderr, "%s: cannot write: %s\n", o.out.c_str(), std::strerror(errno));
    return 1;
  }
  std::string line;
  std::size_t number = 0, sequences = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      const Sequence s = tokenize_line(sp, o, nlohmann::json::parse(line));
      nlohmann::json j{{"input_ids", s.ids}, {"labels", s.labels}, {"bytes", s.target_bytes}};
      out << j.dump() << '\n';
      ++sequences;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s:%zu: %s\n", o.in.c_str(), number, e.what());
      return 1;
    }
  }
  if (sequences == 0) {
    std::fprintf(stderr, "%s: no sequences\n", o.in.c_str());
    return 1;
  }
  out.close();
  if (!out) {
    std::fprintf(stderr, "%s: write failed\n", o.out.c_str());
    return 1;
  }
  std::fprintf(stderr, "murmur-tokenize: %zu sequences, vocabulary %d\n", sequences,
               sp.GetPieceSize());
  return 0;
}
