-- FreeSWITCH asks tollguard before the bridge: the HTTP decision front end, as a Lua script.
-- UNTESTED: FreeSWITCH is not packaged in Debian 12, so the test suite cannot run it.
-- Needs mod_curl (the `curl` API) and mod_lua. See docs/integrations/freeswitch.md.
--
-- Dialplan (before the bridge):
--   <action application="lua" data="freeswitch-tollguard.lua"/>
--   <action application="bridge" data="sofia/gateway/carrier/${destination_number}"/>
-- Sets tollguard_allow = true | false | undecided and, when refused, answers the caller itself.

local TG_API = "http://192.0.2.20:8080"
local TG_TOKEN = "tg_REPLACE_WITH_A_DECIDER_TOKEN"
local FAIL_OPEN = false   -- true: place calls unchecked while tollguard does not answer

local api = freeswitch.API()
local dialed = session:getVariable("destination_number") or ""
local call_id = session:getVariable("sip_call_id") or session:getVariable("uuid")

-- Emergency numbers: never asked about.
if dialed == "110" or dialed == "118" or dialed == "119" then
  session:setVariable("tollguard_allow", "emergency")
  return
end

local function json_string(s)
  return '"' .. tostring(s or ""):gsub('[%c"\\]', function(c)
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local body = "{" ..
  '"call_id":' .. json_string(call_id) ..
  ',"account":' .. json_string(session:getVariable("caller_id_number")) ..
  ',"dialed":' .. json_string(dialed) ..
  ',"user_agent":' .. json_string(session:getVariable("sip_user_agent")) .. "}"

local answer = api:execute("curl", TG_API .. "/api/v1/decide"
  .. " content-type application/json connect-timeout 1 timeout 1"
  .. " append_headers 'Authorization: Bearer " .. TG_TOKEN .. "'"
  .. " post " .. body) or ""

if answer:find('"allow":true', 1, true) then
  session:setVariable("tollguard_allow", "true")
  session:setVariable("tollguard_call_id", call_id)
  -- reports: answered / ended (see freeswitch.md for the api_on_answer / api_hangup_hook variables)
  return
end

if not answer:find('"allow":false', 1, true) then
  session:setVariable("tollguard_allow", "undecided")
  if FAIL_OPEN then
    freeswitch.consoleLog("WARNING", "tollguard did not decide " .. dialed .. ": placed unchecked\n")
    return
  end
  session:execute("respond", "503 Call check unavailable")
  return
end

local status = answer:match('"status":(%d+)') or "403"
local reason = answer:match('"reason":"([^"\\]*)') or "refused by tollguard"
freeswitch.consoleLog("NOTICE", "tollguard refused " .. dialed .. ": " .. reason .. "\n")
session:setVariable("tollguard_allow", "false")
session:setVariable("sip_rh_Warning", '399 tollguard "' .. reason .. '"')
session:execute("respond", status .. " Refused by tollguard")
