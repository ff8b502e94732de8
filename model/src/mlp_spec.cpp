#include "murmur/model/mlp_spec.hpp"

#include <charconv>
#include <stdexcept>
#include <string>

#include "murmur/model/errors.hpp"

namespace murmur::model {

MlpShape parse_mlp_shape(std::string_view text) {
  MlpShape shape;
  const auto bad = [&](const std::string& why) {
    return ModelError("MLP shape '" + std::string(text) + "': " + why +
                      "; write it as widths joined by '-', input first and classes last, "
                      "e.g. 784-128-10 (784-10 is logistic regression)");
  };
  std::size_t pos = 0;
  while (true) {
    const std::size_t dash = text.find('-', pos);
    const std::string_view part =
        text.substr(pos, dash == std::string_view::npos ? dash : dash - pos);
    std::size_t value = 0;
    const auto [end, err] = std::from_chars(part.data(), part.data() + part.size(), value);
    if (part.empty() || err != std::errc() || end != part.data() + part.size())
      throw bad("'" + std::string(part) + "' is not a width");
    shape.widths.push_back(value);
    if (dash == std::string_view::npos) break;
    pos = dash + 1;
  }
  try {
    shape.check();
  } catch (const std::invalid_argument& e) {
    throw bad(e.what());
  }
  return shape;
}

void check_parameter_count(const MlpShape& shape, std::size_t count, std::string_view what) {
  if (count != shape.parameters())
    throw ModelError(std::string(what) + " has " + std::to_string(count) + " parameters, the MLP " +
                     shape.describe() + " has " + std::to_string(shape.parameters()) +
                     " (W then b for each layer, named_parameters() order): it was made for a "
                     "different model; check the task's model spec");
}

}  // namespace murmur::model
