//! Russian (polite "вы", gender-neutral for the bot): every reply.
//!
//! Count phrases are declined for the case their templates put them in: seconds and minutes in
//! the accusative ("подождите 1 секунду", "через 21 минуту"), the rest nominative (which is
//! also their accusative).

use super::locale::Language;
use super::words::{Conjunction, HelpWords, Plural, Words, plural_east_slavic};

pub(crate) static LANGUAGE: Language = Language {
    code: "ru",
    help: HelpWords {
        intro: "Я перевожу текст сразу на один или несколько языков.",
        languages: "языки, которые я знаю",
        help: "это сообщение",
        defaults: "языки по умолчанию: /lang es fr, /lang off",
        favorites: "языки, которыми вы пользуетесь чаще всего",
        history: "ваши последние переводы",
        forget: "удалить всё, что я храню о вас",
        reply: "Ответьте /tr de на любое сообщение, чтобы перевести его.",
        limits: "Лимиты на один запрос: символов — {chars}, языков — {targets}.",
        voice: "Отправьте голосовое сообщение с подписью /tr es,fr, чтобы перевести сказанное.",
        demo: "Сейчас работает офлайн-демо: я знаю лишь небольшой разговорник распространённых \
               фраз (hello, good morning, thank you...). Чтобы переводить любой текст, \
               подключите настоящий сервис перевода (см. README).",
    },
    words: Some(&WORDS),
};

static WORDS: Words = Words {
    plural_rule: plural_east_slavic,
    and: Conjunction {
        sep: ", ",
        last: " и ",
        last_alt: None,
    },
    or: Conjunction {
        sep: ", ",
        last: " или ",
        last_alt: None,
    },

    // Accusative: "длится 1 секунду", "подождите 5 секунд".
    seconds: Plural {
        one: "{n} секунду",
        few: "{n} секунды",
        many: "{n} секунд",
    },
    characters: Plural {
        one: "{n} символ",
        few: "{n} символа",
        many: "{n} символов",
    },
    languages: Plural {
        one: "{n} язык",
        few: "{n} языка",
        many: "{n} языков",
    },
    items: Plural {
        one: "{n} запись",
        few: "{n} записи",
        many: "{n} записей",
    },
    translations: Plural {
        one: "{n} перевод",
        few: "{n} перевода",
        many: "{n} переводов",
    },
    hours: Plural {
        one: "{n} час",
        few: "{n} часа",
        many: "{n} часов",
    },
    // Accusative: "через 1 минуту".
    minutes: Plural {
        one: "{n} минуту",
        few: "{n} минуты",
        many: "{n} минут",
    },
    hours_minutes: "{hours} {minutes}",

    voice_disabled: "Голосовые сообщения в этом боте не включены (сервис распознавания речи не \
                     настроен). Пожалуйста, отправьте текст.",
    voice_too_long: "Это голосовое сообщение длится {secs}, а я могу расшифровать максимум \
                     {max}.",
    voice_fetch_failed: "Не удалось скачать это голосовое сообщение. Попробуйте ещё раз.",
    voice_not_transcribed: "Не удалось распознать это голосовое сообщение: {reason}.",
    transcript_only: "Вы сказали: «{text}»\nЧтобы перевести голосовое сообщение, добавьте к нему \
                      подпись, например /tr es,fr, или задайте языки один раз командой /lang es fr.",
    languages_header: "Я знаю {count}:",
    not_a_command: "Я перевожу текст. Попробуйте «translate good morning to Spanish» или /tr \
                    es,fr good morning. /help покажет всё, что я понимаю.",
    empty: "Сообщение пустое. Пришлите что-нибудь для перевода, например /tr es good morning.",
    unreadable: "Такие сообщения я читать не умею. Пришлите текст для перевода, например /tr es \
                 good morning.",
    no_text: "Что перевести? Напишите текст после списка языков, например /tr es,fr good \
              morning.",
    which_language: "На какой язык? Например, /tr es good morning. Или задайте языки по \
                     умолчанию: /lang es fr.",
    unknown_language: "Язык «{name}» мне неизвестен.",
    did_you_mean: " Возможно, вы имели в виду {suggestions}?",
    languages_hint: "/languages — список всех языков, которые я знаю.",
    too_long: "В этом сообщении {chars}, а за раз я перевожу максимум {max}. Пожалуйста, \
               отправьте его частями.",
    too_many_targets: "Это {count}, а за раз я перевожу максимум на {max}.",
    unknown_command: "Команда /{command} мне неизвестна. /help покажет, что я понимаю.",
    rate_limited: "Вы отправляете сообщения быстрее, чем я успеваю их переводить. Подождите \
                   {wait} и попробуйте снова. (Сообщения, отправленные до этого, будут \
                   пропущены.)",
    timed_out: "Извините, обработка заняла слишком много времени и была прервана. Попробуйте ещё \
                раз через минуту.",
    internal_error: "Извините, при обработке этого сообщения что-то пошло не так. Попробуйте ещё \
                     раз.",
    store_unavailable: "Сейчас не получается прочитать или сохранить ваши настройки. Попробуйте \
                        ещё раз чуть позже.",

    defaults_set: "Готово. Если вы не укажете язык, я буду переводить на {languages}. Отключить: \
                   /lang off.",
    defaults_shown: "Если вы не указываете язык, я перевожу на {languages}. Изменить: /lang es \
                     fr, отключить: /lang off.",
    defaults_none: "У вас нет языков по умолчанию. Задайте их командой /lang es fr.",
    defaults_cleared: "Готово. Языков по умолчанию больше нет; указывайте язык в каждом запросе, \
                       например /tr es good morning.",
    favorites_header: "Ваши самые частые языки:",
    favorites_line: "{language}: {count}",
    favorites_defaults: "Языки по умолчанию: {languages}.",
    favorites_empty: "Избранного пока нет: оно складывается по мере того, как вы переводите. \
                      Здесь появятся языки, которыми вы пользуетесь чаще всего.",
    history_header: "Ваши последние переводы:",
    history_line: "{when}  {languages}: «{text}»",
    history_empty: "Сохранённых переводов пока нет.",
    history_off_in_groups: "В групповых чатах я не храню историю переводов. Чтобы посмотреть \
                            свою, отправьте мне /history в личном чате.",
    history_disabled: "История переводов в этом боте отключена.",
    forgotten: "Готово: все данные о вас удалены ({items}: настройки, история, статистика \
                использования).",
    quota_reached: "Дневной лимит исчерпан: {limit}. Он обновится в полночь по UTC, через \
                    {wait}. До встречи!",

    translated_count: "Переведено {ok} из {total}",
    failed_for: "не удалось перевести на {languages}: {reason}",
    translation_failed: "Перевод не удался: {reason}",
    detected_source: "исходный язык: {language} (определён автоматически)",
    given_source: "исходный язык: {language}",
    demo_note: "(разговорник офлайн-демо, а не настоящий сервис перевода)",
    demo_explained: "ⓘ Это офлайн-демо: оно знает только разговорник распространённых фраз \
                     (попробуйте «good morning» или «thank you»). Чтобы переводить любой текст, \
                     подключите сервис перевода (см. README).",

    reason_timeout: "сервис перевода не ответил вовремя",
    reason_rate_limited: "сервис перевода перегружен (лимит запросов)",
    reason_server_error: "ошибка сервиса перевода (HTTP {status})",
    reason_refused: "сервис перевода отклонил запрос (HTTP {status})",
    reason_unreachable: "сервис перевода недоступен по сети",
    reason_nonsense: "сервис перевода вернул бессмысленный ответ",
    reason_circuit_open: "сервис перевода временно отключён после повторных сбоев (повтор через \
                          {secs} с)",
    reason_unavailable: "сервис перевода недоступен",
    reason_busy: "все сервисы перевода заняты, попробуйте через минуту",
    reason_quota: "дневной бюджет на переводы исчерпан, попробуйте завтра",
};
