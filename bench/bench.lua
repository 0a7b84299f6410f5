-- SPDX-License-Identifier: MIT
-- Lua workload for the benchmark: recursion, tables and strings, run by the Lua 5.4
-- interpreter built with and without -finstrument-functions. Deterministic (the interpreter is
-- built with a fixed hash seed and run under setarch -R). Usage: lua bench.lua SCALE
local scale = tonumber(arg and arg[1]) or 1

local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function tables(n)
  local t = {}
  for i = 1, n do
    t[i] = { id = i, key = "k" .. (i * 7919 % n), v = (i * 31) % 97 }
  end
  table.sort(t, function(a, b)
    if a.v ~= b.v then return a.v < b.v end
    return a.id < b.id
  end)
  local index, sum = {}, 0
  for _, e in ipairs(t) do
    index[e.key] = (index[e.key] or 0) + e.v
  end
  for _, v in pairs(index) do sum = sum + v end
  return sum
end

local function strings(n)
  local parts = {}
  for i = 1, n do
    parts[#parts + 1] = string.format("%d:%s", i, string.rep("ab", i % 5))
  end
  local s = table.concat(parts, ",")
  local words = 0
  for w in s:gmatch("[^,]+") do
    if w:find("abab", 1, true) then words = words + 1 end
  end
  local r = s:gsub("ab", "x"):upper()
  return words + #r
end

local acc = 0
for _ = 1, scale do
  acc = acc + fib(24) + tables(20000) + strings(20000)
end
print(acc)
