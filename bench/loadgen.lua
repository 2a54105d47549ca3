-- wrk script for bench/collect_bench.py: cycles through the pre-generated requests of a
-- tab-separated file (method, target, user agent, X-Forwarded-For, origin, body; an empty
-- field is an absent header; see bench/hits.py), from a given position on, and prints one
-- "BENCHJSON {...}" line of totals and latency percentiles when wrk is done. The body field
-- is backslash-escaped (\\, \n, \r, \t: escape_body in bench/loadgen.py, for gtag's batched
-- bodies); a Measurement Protocol body (/mp/collect) goes as application/json.
--
--   wrk -t1 -c32 -d8s --latency -s bench/loadgen.lua http://127.0.0.1:PORT -- requests.tsv [START]
--
-- START (default 0) is where in the file the first request is taken: a benchmark that loads
-- the same server several times passes how many requests it has sent so far, so that the
-- server sees one continuing stream rather than the file's beginning again and again.

local requests = {}
local position = 0
local threads = {}
local unescapes = { ["\\"] = "\\", n = "\n", r = "\r", t = "\t" }

local function unescape(body)
  return (body:gsub("\\(.)", function(c) return unescapes[c] or ("\\" .. c) end))
end

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file = args[1] or "requests.tsv"
  local start = tonumber(args[2] or "0") or 0
  for line in io.lines(file) do
    local method, target, agent, forwarded, origin, body =
      line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t([^\t]*)\t(.*)$")
    if method then
      local headers = { ["User-Agent"] = agent }
      if forwarded ~= "" then headers["X-Forwarded-For"] = forwarded end
      if origin ~= "" then headers["Origin"] = origin end
      if body == "" then
        body = nil
      else
        body = unescape(body)
        if target:find("^/mp/") or target:find("^/debug/mp/") then
          headers["Content-Type"] = "application/json"
        else
          headers["Content-Type"] = "text/plain;charset=UTF-8"
        end
      end
      requests[#requests + 1] = wrk.format(method, target, headers, body)
    end
  end
  if #requests == 0 then error("no requests in " .. file) end
  -- further threads start elsewhere so that they do not send the same hits in step
  position = (start + (index or 0) * 997) % #requests
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
