-- Shared by every latchkey-bench script (latchkey-bench puts it in front of
-- each): thread numbering, a monotonic clock, and the one report line that
-- latchkey-bench parses. Written for wrk 4 (Debian's), whose LuaJIT has ffi.

local threads = {}

-- setup runs in wrk's main Lua state, once per thread, before its init.
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

-- now_us returns CLOCK_MONOTONIC in microseconds, or nil without ffi.
local now_us
do
  local ok, ffi = pcall(require, "ffi")
  if ok then
    ffi.cdef [[
      typedef struct { long tv_sec; long tv_nsec; } lkbench_timespec;
      int clock_gettime(int clk, lkbench_timespec *ts);
    ]]
    local ts = ffi.new("lkbench_timespec")
    now_us = function()
      ffi.C.clock_gettime(1, ts)
      return tonumber(ts.tv_sec) * 1e6 + tonumber(ts.tv_nsec) / 1e3
    end
  end
end

-- done reports the run. Scripts that stamp t_first and t_last (the first
-- and last request a thread sent) are timed over that span, so a run that
-- ran out of tokens early is not averaged over wrk's idle remainder.
function done(summary, latency, requests)
  local first, last, used = nil, nil, 0
  for _, t in ipairs(threads) do
    local f, l, u = t:get("t_first"), t:get("t_last"), t:get("used")
    if f and (not first or f < first) then first = f end
    if l and (not last or l > last) then last = l end
    used = used + (u or 0)
  end
  local elapsed = summary.duration
  if first and last and last > first then elapsed = last - first end
  local e = summary.errors
  io.write(string.format(
    "LKBENCH requests=%d duration_us=%d elapsed_us=%d p50_us=%d p99_us=%d max_us=%d used=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, math.floor(elapsed),
    latency:percentile(50), latency:percentile(99), latency.max, used,
    e.connect, e.read, e.write, e.status, e.timeout))
  -- The whole latency histogram, microseconds:count, so that runs split
  -- into rounds can be merged exactly.
  local parts = {}
  for i = 1, #latency do
    local v, c = latency(i)
    parts[#parts + 1] = string.format("%d:%d", v, c)
  end
  io.write("LKHIST ", table.concat(parts, " "), "\n")
  -- The latencies the threads timed themselves (timed.lua), merged.
  local raw, any = {}, false
  for _, t in ipairs(threads) do
    local h = t:get("rawhist")
    if h then
      for v, c in pairs(h) do raw[v] = (raw[v] or 0) + c; any = true end
    end
  end
  if any then
    parts = {}
    for v, c in pairs(raw) do parts[#parts + 1] = string.format("%d:%d", v, c) end
    io.write("LKRAW ", table.concat(parts, " "), "\n")
  end
end
