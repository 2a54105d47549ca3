-- wrk script for bench/collect_bench.py: cycles through the pre-generated requests of a
-- tab-separated file (method, target, user agent, origin, body; see bench/hits.py) and
-- prints one "BENCHJSON {...}" line of totals and latency percentiles when wrk is done.
--
--   wrk -t1 -c32 -d8s --latency -s bench/loadgen.lua http://127.0.0.1:PORT -- requests.tsv

local requests = {}
local position = 0
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1] or "requests.tsv"
  for line in io.lines(file) do
    local method, target, agent, origin, body =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = { ["User-Agent"] = agent }
      if origin ~= "" then headers["Origin"] = origin end
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "text/plain;charset=UTF-8"
      end
      requests[#requests + 1] = wrk.format(method, target, headers, body)
    end
  end
  if #requests == 0 then error("no requests in " .. file) end
  -- threads start at different places so they do not send the same hits in step
  position = ((index or 0) * 997) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _requests)
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"non2xx3xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
