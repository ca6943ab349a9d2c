-- walk: GET /v1/me, each request with the next token of this thread's own
-- file, so that no token is ever sent twice and every check misses a cold
-- cache. A thread that reaches the end of its file writes its done file
-- and stops; latchkey-bench ends wrk once every thread is done.
--
-- Arguments (after wrk's "--"): token file prefix, done file prefix; the
-- thread number is appended to each. With timed.lua after it (the solo
-- script), each thread also times its requests itself.

local tokens, donefile, finished
local calls = 0
local head, spare
local raw, sent

function init(args)
  tokens = assert(io.open(args[1] .. tid, "r"))
  donefile = args[2] .. tid
  head = "GET /v1/me HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port .. "\r\nAuthorization: Bearer "
  -- Sent for wrk's check of the script and after the last token: it
  -- never reaches the token cache.
  spare = "GET /healthz HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. wrk.port .. "\r\n\r\n"
  used = 0
  raw = response ~= nil and now_us ~= nil
  if raw then rawhist = {} end
end

function request()
  calls = calls + 1
  -- wrk calls request() once in thread 0 to check it, before the run.
  if calls == 1 and tid == 0 then return spare end
  local t = now_us and now_us()
  if not t_first then t_first = t end
  local tok = tokens:read("*l")
  if not tok or tok == "" then
    if not finished then
      finished = true
      local f = io.open(donefile, "w")
      if f then f:write("done\n"); f:close() end
    end
    wrk.thread:stop()
    return spare
  end
  t_last = t
  used = used + 1
  if raw then sent = t end
  return head .. tok .. "\r\n\r\n"
end

