#pragma once
// murmurd's Prometheus page as the tests read it: fetched over HTTP, one sample by name.
#include <httplib.h>

#include <sstream>
#include <string>

namespace murmur::testing {

/// GET http://127.0.0.1:`port`/metrics: the page, "" when it did not answer 200.
inline std::string scrape(int port) {
  httplib::Client http("127.0.0.1", port);
  http.set_connection_timeout(2);
  http.set_read_timeout(2);
  const auto res = http.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

/// The value of the first sample `name` in a Prometheus text page (-1: absent).
inline double sample(const std::string& page, const std::string& name) {
  std::istringstream in(page);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  return -1;
}

}  // namespace murmur::testing
