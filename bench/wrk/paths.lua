-- Requests the paths listed in the file named by WRK_PATHS (one per line), each thread
-- from its own starting point, in turn. The Authorization header comes from -H.
local paths = {}
local i = 0

function init(args)
  for line in io.lines(os.getenv("WRK_PATHS")) do
    paths[#paths + 1] = line
  end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
  i = math.random(#paths)
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
