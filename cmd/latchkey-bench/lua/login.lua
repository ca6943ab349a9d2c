-- login: POST /v1/login as user1, user2, … in turn (thread i of n takes
-- users i+1, i+1+n, …), every user with the same password.
--
-- Arguments (after wrk's "--"): number of users, password, number of threads.

local users, password, step, i

function init(args)
  users = tonumber(args[1])
  password = args[2]
  step = tonumber(args[3])
  i = tid
end

function request()
  local body = string.format('{"username":"user%d","password":"%s"}', i % users + 1, password)
  i = i + step
  return wrk.format("POST", "/v1/login", { ["Content-Type"] = "application/json" }, body)
end
