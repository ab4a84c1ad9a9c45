//! Japanese (polite です/ます): every reply. No spaces between Japanese words; commands and
//! examples sit in 「」 so chat clients still see where a command ends.

use super::locale::Language;
use super::words::{Conjunction, HelpWords, Plural, Words, plural_none};

pub(crate) static LANGUAGE: Language = Language {
    code: "ja",
    help: HelpWords {
        intro: "テキストを一度に1つまたは複数の言語に翻訳します。",
        languages: "対応言語の一覧",
        help: "このメッセージ",
        defaults: "既定の言語：/lang es fr、/lang off",
        favorites: "よく使う言語",
        history: "最近の翻訳",
        forget: "あなたについて保存しているものをすべて削除",
        reply: "メッセージに /tr de と返信すると、そのメッセージを翻訳します。",
        limits: "1回のリクエストにつき最大{chars}文字、{targets}言語まで翻訳できます。",
        voice: "「/tr es,fr」というキャプションを付けて音声メッセージを送ると、話した内容を翻訳\
                します。",
        demo: "現在はオフラインのデモ用プロバイダーで動いています。よく使う短いフレーズ（hello、\
               good morning、thank you…）しか知りません。どんな文章でも翻訳するには、実際の翻訳\
               サービスを設定してください（READMEを参照）。",
    },
    words: Some(&WORDS),
};

static WORDS: Words = Words {
    plural_rule: plural_none,
    and: Conjunction {
        sep: "、",
        last: "、",
        last_alt: None,
    },
    or: Conjunction {
        sep: "、",
        last: "または",
        last_alt: None,
    },

    seconds: Plural {
        one: "{n}秒",
        few: "{n}秒",
        many: "{n}秒",
    },
    characters: Plural {
        one: "{n}文字",
        few: "{n}文字",
        many: "{n}文字",
    },
    languages: Plural {
        one: "{n}言語",
        few: "{n}言語",
        many: "{n}言語",
    },
    items: Plural {
        one: "{n}件",
        few: "{n}件",
        many: "{n}件",
    },
    translations: Plural {
        one: "{n}件",
        few: "{n}件",
        many: "{n}件",
    },
    hours: Plural {
        one: "{n}時間",
        few: "{n}時間",
        many: "{n}時間",
    },
    minutes: Plural {
        one: "{n}分",
        few: "{n}分",
        many: "{n}分",
    },
    hours_minutes: "{hours}{minutes}",

    voice_disabled: "このボットでは音声メッセージが有効になっていません（文字起こしサービスが\
                     設定されていません）。テキストで送ってください。",
    voice_too_long: "この音声メッセージの長さは{secs}です。文字起こしできるのは{max}までです。",
    voice_fetch_failed: "音声メッセージをダウンロードできませんでした。もう一度お試しください。",
    voice_not_transcribed: "音声メッセージを文字起こしできませんでした（{reason}）。",
    transcript_only: "聞き取った内容：「{text}」\n音声メッセージを翻訳するには、「/tr es,fr」の\
                      ようなキャプションを付けるか、「/lang es fr」で言語を設定してください。",
    languages_header: "{count}に対応しています：",
    not_a_command: "テキストを翻訳するボットです。「translate good morning to Spanish」や\
                    「/tr es,fr good morning」のように送ってください。「/help」で使い方を\
                    すべて確認できます。",
    empty: "メッセージが空です。翻訳したい内容を送ってください（例：「/tr es good morning」）。",
    unreadable: "この種類のメッセージは読めません。翻訳したいテキストを送ってください\
                 （例：「/tr es good morning」）。",
    no_text: "何を翻訳しますか？言語の後にテキストを書いてください（例：「/tr es,fr good \
              morning」）。",
    which_language: "どの言語に翻訳しますか？例：「/tr es good morning」。「/lang es fr」で\
                     デフォルトの言語を設定することもできます。",
    unknown_language: "「{name}」という言語はわかりません。",
    did_you_mean: "もしかして{suggestions}のことですか？",
    languages_hint: "「/languages」で対応言語の一覧を表示します。",
    too_long: "このメッセージは{chars}あります。一度に翻訳できるのは{max}までです。分けて送って\
               ください。",
    too_many_targets: "{count}が指定されていますが、一度に翻訳できるのは{max}までです。",
    unknown_command: "「/{command}」というコマンドはありません。「/help」で使い方を確認できます。",
    rate_limited: "メッセージの送信ペースが速すぎて、翻訳が追いつきません。{wait}待ってから、\
                   もう一度お試しください（それまでに送られたメッセージはスキップされます）。",
    timed_out: "申し訳ありません。時間がかかりすぎたため中断しました。1分ほどしてからもう一度\
                お試しください。",
    internal_error: "申し訳ありません。メッセージの処理中に問題が発生しました。もう一度お試し\
                     ください。",
    store_unavailable: "現在、設定を読み込んだり保存したりできません。しばらくしてからもう一度\
                        お試しください。",

    defaults_set: "設定しました。言語を指定しなかったときは{languages}に翻訳します。やめるには\
                   「/lang off」を送ってください。",
    defaults_shown: "言語を指定しなかったときは{languages}に翻訳します。変更は「/lang es fr」、\
                     解除は「/lang off」でできます。",
    defaults_none: "デフォルトの言語は設定されていません。「/lang es fr」で設定できます。",
    defaults_cleared: "解除しました。デフォルトの言語はもうありません。毎回言語を指定してください\
                       （例：「/tr es good morning」）。",
    favorites_header: "よく使う言語：",
    favorites_line: "{language}：{count}",
    favorites_defaults: "デフォルトの言語：{languages}",
    favorites_empty: "お気に入りはまだありません。翻訳するうちに、よく使う言語がここに表示される\
                      ようになります。",
    history_header: "最近の翻訳：",
    history_line: "{when}  {languages}：「{text}」",
    history_empty: "保存された翻訳はまだありません。",
    history_off_in_groups: "グループチャットでは翻訳履歴を保存していません。自分の履歴を見るには、\
                            個別チャットで「/history」を送ってください。",
    history_disabled: "このボットでは翻訳履歴が無効になっています。",
    forgotten: "完了しました。保存していたあなたのデータをすべて削除しました（{items}：設定、\
                履歴、利用回数）。",
    quota_reached: "本日の上限（{limit}）に達しました。上限はUTCの午前0時にリセットされます\
                    （あと{wait}）。",

    translated_count: "{total}件中{ok}件を翻訳",
    failed_for: "{languages}は失敗：{reason}",
    translation_failed: "翻訳に失敗しました：{reason}",
    detected_source: "翻訳元：{language}（自動検出）",
    given_source: "翻訳元：{language}",
    demo_note: "（オフラインのデモ用フレーズ集です。実際の翻訳サービスではありません）",
    demo_explained: "ⓘ これはオフラインのデモで、よく使うフレーズ集しか知りません（「good \
                     morning」や「thank you」を試してください）。どんな文章でも翻訳するには、\
                     翻訳サービスを設定してください（READMEを参照）。",

    reason_timeout: "翻訳サービスがタイムアウトしました",
    reason_rate_limited: "翻訳サービスが混み合っています（レート制限）",
    reason_server_error: "翻訳サービスでエラーが発生しました（HTTP {status}）",
    reason_refused: "翻訳サービスがリクエストを拒否しました（HTTP {status}）",
    reason_unreachable: "翻訳サービスに接続できません",
    reason_nonsense: "翻訳サービスから不正な応答がありました",
    reason_circuit_open: "障害が続いたため翻訳サービスを一時停止しています（{secs}秒後に再試行）",
    reason_unavailable: "翻訳サービスを利用できません",
    reason_busy: "すべての翻訳サービスが混み合っています。1分ほどしてからお試しください",
    reason_quota: "本日の翻訳予算を使い切りました。明日またお試しください",
};
