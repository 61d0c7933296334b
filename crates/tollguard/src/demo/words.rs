//! The demo's sentences in English and Japanese: the live log, the progress lines and the summary. The
//! guard's own reasons (the engine's sentences, as carried in the SIP Warning header) are quoted as given.

use std::path::Path;

use numbering::group_thousands;

use super::clock::{hm, hms};
use super::config::DemoPorts;
use super::internet::ScanResult;
use super::outcome::{AttackOutcome, Attempt, OfficeOutcome};

pub use api::notify::Lang;

/// The demo's sentences in the language `self` names (a trait because [`Lang`] is the notifier's type).
pub trait Words: Copy {
    fn ja(self) -> bool;

    fn banner(self, speed: f64, start: i64, end: i64, open: bool) -> String {
        let policy_en = if open {
            "policy: every country allowed and risk lists off, as in 2015 — only the behaviour rules stand"
        } else {
            "policy: the defaults of a new installation (ext 203 may also call the United States)"
        };
        let policy_ja = if open {
            "ポリシー: 2015年と同じく全ての国への発信を許可、リスクリスト無効 — 振る舞い検知のみで防御"
        } else {
            "ポリシー: 新規導入時の既定値（内線203のみ米国への発信を許可）"
        };
        if self.ja() {
            format!(
                "tollguard デモ: 2015年の IP-PBX 乗っ取り（シエラレオネ +232 への大量発信）をループバック上で再現します。\n\
金曜日 {}〜{} (日本時間) を {speed:.0} 倍速で再生（実時間 約{:.0}秒）。SIP は全て本物の guard を通ります。\n{policy_ja}\n",
                hm(start),
                hm(end),
                (end - start) as f64 / 1000.0 / speed
            )
        } else {
            format!(
                "tollguard demo: the 2015 IP-PBX hijacking (floods of calls to Sierra Leone +232) replayed on loopback.\n\
Friday {}–{} JST played at {speed:.0}x real time (about {:.0} s); every SIP message goes through the real guard.\n{policy_en}\n",
                hm(start),
                hm(end),
                (end - start) as f64 / 1000.0 / speed
            )
        }
    }

    fn setup(self, p: &DemoPorts, config: &Path) -> String {
        if self.ja() {
            format!(
                "  guard: 電話/インターネット側 udp {}, PBX トランク側 udp {} · PBX {} · キャリア {} · 設定 {}\n",
                p.access,
                p.pbx_side,
                p.pbx,
                p.carrier,
                config.display()
            )
        } else {
            format!(
                "  guard: phones/internet side udp {}, PBX trunk side udp {} · PBX {} · carrier {} · config {}\n",
                p.access,
                p.pbx_side,
                p.pbx,
                p.carrier,
                config.display()
            )
        }
    }

    fn office_call(self, a: &Attempt) -> String {
        let dest = match (&a.country, &a.e164) {
            (Some(c), _) if c != "Japan" => format!("{} ({c})", a.dialed),
            _ => a.dialed.clone(),
        };
        match (self.ja(), a.result) {
            (false, "completed") => format!(
                "ext {} → {dest}: connected, {} s (office call)",
                a.ext, a.billable_secs
            ),
            (true, "completed") => format!(
                "内線{} → {dest}: 通話 {} 秒（通常業務）",
                a.ext, a.billable_secs
            ),
            (false, _) => format!(
                "ext {} → {dest}: {} {} — LEGITIMATE CALL NOT CONNECTED: {}",
                a.ext,
                a.result,
                a.sip_status,
                a.reason.as_deref().unwrap_or("")
            ),
            (true, _) => format!(
                "内線{} → {dest}: {} {} — 正規の通話が接続されませんでした: {}",
                a.ext,
                a.result,
                a.sip_status,
                a.reason.as_deref().unwrap_or("")
            ),
        }
    }

    /// The guard's reason for a refused or ended call, shortened for one log line: the kill switch's long
    /// explanation is printed once (when it is set), not on every refused call.
    fn short_reason(self, reason: &str) -> String {
        let ja = self.ja();
        if let Some((_, since)) = reason.split_once(" are barred since ") {
            let hhmm = since.split_whitespace().nth(1).unwrap_or("");
            return if ja {
                format!("キルスイッチにより国際発信停止中（{hhmm} から）")
            } else {
                format!("barred by the kill switch set at {hhmm}")
            };
        }
        if ja {
            if reason.contains("not an allowed destination") {
                return "ポリシーで許可されていない宛先国".into();
            }
            if reason.contains("obfuscated") {
                return "記号で偽装されたダイヤル（# 付き）".into();
            }
            if reason.contains("in progress") {
                return "発信停止により通話中の呼を切断".into();
            }
        }
        // "ext 205 of acme called Sierra Leone (+232…): Sierra Leone is not …; 175 JPY at stake. Call blocked"
        let tail = match reason.split_once("): ") {
            Some((_, t)) => t,
            None => reason,
        };
        tail.trim_end_matches(". Call blocked")
            .trim_end_matches('.')
            .to_owned()
    }

    fn attack_call(self, a: &Attempt, dest: &str) -> String {
        let reason = self.short_reason(a.reason.as_deref().unwrap_or(""));
        match (self.ja(), a.result) {
            (false, "completed") => format!(
                "ext {} → {dest} PASSED: answered, {} s, {} JPY on the bill",
                a.ext,
                a.billable_secs,
                group_thousands(a.cost_jpy)
            ),
            (true, "completed") => format!(
                "内線{} → {dest} 通過: {} 秒通話、{} 円の請求",
                a.ext,
                a.billable_secs,
                group_thousands(a.cost_jpy)
            ),
            (false, "ended_by_guard") => format!(
                "ext {} → {dest} CUT OFF by tollguard after {} s ({} JPY): {reason}",
                a.ext,
                a.billable_secs,
                group_thousands(a.cost_jpy)
            ),
            (true, "ended_by_guard") => format!(
                "内線{} → {dest} tollguard が {} 秒で切断（{} 円）: {reason}",
                a.ext,
                a.billable_secs,
                group_thousands(a.cost_jpy)
            ),
            (false, "refused") => format!(
                "ext {} → {dest} blocked ({}): {reason}",
                a.ext, a.sip_status
            ),
            (true, "refused") => {
                format!("内線{} → {dest} 遮断 ({}): {reason}", a.ext, a.sip_status)
            }
            (false, _) => format!("ext {} → {dest}: no answer", a.ext),
            (true, _) => format!("内線{} → {dest}: 応答なし", a.ext),
        }
    }

    fn emergency(self, a: &Attempt) -> String {
        match (self.ja(), a.passed()) {
            (false, true) => format!(
                "ext {} → 110 (police): CONNECTED — emergency numbers are never blocked, even on a barred extension",
                a.ext
            ),
            (true, true) => format!(
                "内線{} → 110（警察）: 接続 — 緊急通報は発信停止中の内線からでも必ず通ります",
                a.ext
            ),
            (false, false) => format!(
                "ext {} → 110: NOT CONNECTED ({}) — this is a defect",
                a.ext, a.sip_status
            ),
            (true, false) => format!(
                "内線{} → 110: 接続されませんでした ({}) — 不具合です",
                a.ext, a.sip_status
            ),
        }
    }

    fn hijack(self, ip: &str, status: Option<u16>) -> String {
        let s = status.map(|s| s.to_string()).unwrap_or_else(|| "-".into());
        if self.ja() {
            format!(
                "攻撃者 {ip} がメーカー既定のパスワードで内線205にログイン → PBX の応答 {s}（正しいパスワードなので PBX は受け入れます）"
            )
        } else {
            format!(
                "attacker {ip} logs in to ext 205 with the vendor's default password → PBX answers {s} (a correct password: the PBX accepts it)"
            )
        }
    }

    fn scan_starts(self, ip: &str, ua: &str, guess: bool) -> String {
        match (self.ja(), guess) {
            (false, false) => format!(
                "scanner {ip} (User-Agent {ua}) probes the PBX like sipvicious: OPTIONS, then REGISTER for ext 100–299"
            ),
            (false, true) => {
                format!("scanner {ip} (posing as \"{ua}\") guesses passwords of ext 100–299")
            }
            (true, false) => format!(
                "スキャナ {ip}（User-Agent {ua}）が sipvicious と同様に探索: OPTIONS、内線100〜299へ REGISTER"
            ),
            (true, true) => {
                format!("スキャナ {ip}（\"{ua}\" を詐称）が内線100〜299のパスワードを推測")
            }
        }
    }

    fn scan_result(self, r: &ScanResult) -> String {
        let cracked = if r.cracked.is_empty() {
            String::new()
        } else {
            format!(" cracked: {}", r.cracked.join(", "))
        };
        match (self.ja(), r.banned) {
            (false, true) => format!(
                "scanner {} BANNED: {} of {} requests answered, silence since {}; {} password found{cracked}",
                r.source,
                r.answered,
                r.requests,
                r.silenced_at.map(hms).unwrap_or_default(),
                if r.cracked.is_empty() { "no" } else { "a" }
            ),
            (true, true) => format!(
                "スキャナ {} を遮断: {} 件中 {} 件に応答、{} 以降は無応答。パスワード発見 {} 件{cracked}",
                r.source,
                r.requests,
                r.answered,
                r.silenced_at.map(hms).unwrap_or_default(),
                r.cracked.len()
            ),
            (false, false) => format!(
                "scanner {} was NOT banned ({} of {} answered)",
                r.source, r.answered, r.requests
            ),
            (true, false) => format!(
                "スキャナ {} は遮断されませんでした（{} 件中 {} 件応答）",
                r.source, r.requests, r.answered
            ),
        }
    }

    /// Said once, instead of every later refusal of the barred extension.
    fn barred_from_now_on(self) -> String {
        if self.ja() {
            "内線205 は発信を続けていますが、以降の試行もすべてキルスイッチで拒否されます（件数は下の経過行に表示）".into()
        } else {
            "ext 205 keeps dialling; every further attempt is refused by the kill switch the same way (the progress lines count them)".into()
        }
    }

    fn progress(self, at: i64, f: &OfficeOutcome, a: &AttackOutcome) -> String {
        if self.ja() {
            format!(
                "── {} 業務通話 {}/{} 件接続 · 攻撃 {} 回試行、{} 件通過、{} 円",
                hm(at),
                f.passed,
                f.attempts,
                a.attempts,
                a.passed,
                group_thousands(a.money_lost_jpy)
            )
        } else {
            format!(
                "── {} office calls {}/{} connected · attack {} tries, {} passed, {} JPY",
                hm(at),
                f.passed,
                f.attempts,
                a.attempts,
                a.passed,
                group_thousands(a.money_lost_jpy)
            )
        }
    }

    fn html_written(self, path: &Path) -> String {
        if self.ja() {
            format!("HTML レポート: {}", path.display())
        } else {
            format!("HTML report: {}", path.display())
        }
    }

    fn keep_running(self, p: &DemoPorts, config: &Path, store: &Path) -> String {
        if self.ja() {
            format!(
                "\nguard は動作中です（Ctrl-C で終了）。\n  SIP: 電話側 udp {} / トランク側 udp {}\n  設定: {}\n  ストア（遮断・キルスイッチ・アラート）: {}\n  操作: tollguard ctl（docs/demo.md 参照）",
                p.access,
                p.pbx_side,
                config.display(),
                store.display()
            )
        } else {
            format!(
                "\nThe guard keeps running (Ctrl-C to stop).\n  SIP: phones side udp {} / trunk side udp {}\n  config: {}\n  store (bans, kill switches, alerts): {}\n  operate it: tollguard ctl (see docs/demo.md)",
                p.access,
                p.pbx_side,
                config.display(),
                store.display()
            )
        }
    }
}

impl Words for Lang {
    fn ja(self) -> bool {
        self == Lang::Ja
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_shortened_for_the_log() {
        let barred = "ext 205 of acme called Guinea (+22462609812): international calls of ext 205 of acme are barred since 2026-11-27 19:31 by tollguard (long story). Call blocked";
        assert_eq!(
            Lang::En.short_reason(barred),
            "barred by the kill switch set at 19:31"
        );
        assert!(Lang::Ja.short_reason(barred).contains("19:31"));
        let denied = "ext 205 of acme called Cuba (+5350178656): Cuba is not an allowed destination in the policy; 180 JPY at stake. Call blocked";
        assert_eq!(
            Lang::En.short_reason(denied),
            "Cuba is not an allowed destination in the policy; 180 JPY at stake"
        );
        assert_eq!(
            Lang::Ja.short_reason(denied),
            "ポリシーで許可されていない宛先国"
        );
        assert_eq!(Lang::En.short_reason("plain words"), "plain words");
    }
}
