//! Spanish (informal "tú", as chat bots usually speak): every reply.

use super::locale::Language;
use super::words::{Conjunction, HelpWords, Plural, Words, plural_one_other};

pub(crate) static LANGUAGE: Language = Language {
    code: "es",
    help: HelpWords {
        intro: "Traduzco textos a uno o varios idiomas a la vez.",
        languages: "los idiomas que conozco",
        help: "este mensaje",
        defaults: "tus idiomas predeterminados: /lang es fr, /lang off",
        favorites: "los idiomas que más usas",
        history: "tus últimas traducciones",
        forget: "borrar todo lo que guardo sobre ti",
        reply: "Responde /tr de a cualquier mensaje para traducirlo.",
        limits: "Hasta {chars} caracteres y {targets} idiomas por solicitud.",
        voice: "Envía un mensaje de voz con la leyenda /tr es,fr para traducir lo que dices.",
        demo: "Funciono con el proveedor de demostración sin conexión: solo conozco un pequeño \
               repertorio de frases comunes (hello, good morning, thank you...). Configura un \
               proveedor real para traducir cualquier texto (ver el README).",
    },
    words: Some(&WORDS),
};

static WORDS: Words = Words {
    plural_rule: plural_one_other,
    // "y" becomes "e" before an /i/ sound, "o" becomes "u" before an /o/ sound.
    and: Conjunction {
        sep: ", ",
        last: " y ",
        last_alt: Some((&["i", "hi"], " e ")),
    },
    or: Conjunction {
        sep: ", ",
        last: " o ",
        last_alt: Some((&["o", "ho"], " u ")),
    },

    seconds: Plural {
        one: "{n} segundo",
        few: "{n} segundos",
        many: "{n} segundos",
    },
    characters: Plural {
        one: "{n} carácter",
        few: "{n} caracteres",
        many: "{n} caracteres",
    },
    languages: Plural {
        one: "{n} idioma",
        few: "{n} idiomas",
        many: "{n} idiomas",
    },
    items: Plural {
        one: "{n} elemento",
        few: "{n} elementos",
        many: "{n} elementos",
    },
    translations: Plural {
        one: "{n} traducción",
        few: "{n} traducciones",
        many: "{n} traducciones",
    },
    hours: Plural {
        one: "{n} hora",
        few: "{n} horas",
        many: "{n} horas",
    },
    minutes: Plural {
        one: "{n} minuto",
        few: "{n} minutos",
        many: "{n} minutos",
    },
    hours_minutes: "{hours} y {minutes}",

    voice_disabled: "Los mensajes de voz no están activados en este bot (no hay ningún proveedor \
                     de transcripción configurado). Envíame texto, por favor.",
    voice_too_long: "Ese mensaje de voz dura {secs}; transcribo hasta {max}.",
    voice_fetch_failed: "No pude descargar ese mensaje de voz. Inténtalo de nuevo.",
    voice_not_transcribed: "No pude transcribir ese mensaje de voz: {reason}.",
    transcript_only: "Dijiste: «{text}»\nPara traducir un mensaje de voz, añádele una leyenda \
                      como /tr es,fr o fija tus idiomas una vez con /lang es fr.",
    languages_header: "Conozco {count}:",
    not_a_command: "Traduzco textos. Prueba con «translate good morning to Spanish» o con /tr \
                    es,fr good morning. /help muestra todo lo que entiendo.",
    empty: "Ese mensaje está vacío. Envíame algo para traducir, p. ej. /tr es good morning.",
    unreadable: "No puedo leer ese tipo de mensaje. Envíame un texto para traducir, p. ej. /tr es \
                 good morning.",
    no_text: "¿Qué quieres que traduzca? Escribe el texto después de los idiomas, p. ej. /tr \
              es,fr good morning.",
    which_language: "¿A qué idioma? Por ejemplo, /tr es good morning, o elige idiomas \
                     predeterminados con /lang es fr.",
    unknown_language: "No conozco el idioma «{name}».",
    did_you_mean: " ¿Quisiste decir {suggestions}?",
    languages_hint: "/languages muestra todos los idiomas que conozco.",
    too_long: "Ese mensaje tiene {chars}; traduzco hasta {max} cada vez. Envíalo en partes más \
               pequeñas, por favor.",
    too_many_targets: "Son {count}; traduzco a {max} como máximo a la vez.",
    unknown_command: "No conozco el comando /{command}. /help muestra lo que entiendo.",
    rate_limited: "Me estás enviando mensajes más rápido de lo que puedo traducirlos. Espera \
                   {wait} y vuelve a intentarlo. (Me saltaré los mensajes que envíes mientras \
                   tanto.)",
    timed_out: "Lo siento, estaba tardando demasiado y lo cancelé. Vuelve a intentarlo en un \
                minuto.",
    internal_error: "Lo siento, algo salió mal al procesar ese mensaje. Inténtalo de nuevo.",
    store_unavailable: "Ahora mismo no puedo leer ni guardar tus ajustes. Vuelve a intentarlo \
                        en un momento.",

    defaults_set: "Hecho. Cuando no indiques ningún idioma, traduciré a {languages}. /lang off \
                   para desactivarlo.",
    defaults_shown: "Cuando no indicas ningún idioma, traduzco a {languages}. Cámbialos con \
                     /lang es fr o desactívalos con /lang off.",
    defaults_none: "No tienes idiomas predeterminados. Elígelos con /lang es fr.",
    defaults_cleared: "Hecho. Ya no tienes idiomas predeterminados; indica un idioma en cada \
                       solicitud, p. ej. /tr es good morning.",
    favorites_header: "Tus idiomas más usados:",
    favorites_line: "{language}: {count}",
    favorites_defaults: "Tus idiomas predeterminados: {languages}.",
    favorites_empty: "Aún no tienes favoritos: se irán formando a medida que traduzcas, y aquí \
                      aparecerán los idiomas que más uses.",
    history_header: "Tus traducciones recientes:",
    history_line: "{when}  {languages}: «{text}»",
    history_empty: "Todavía no hay traducciones guardadas.",
    history_off_in_groups: "No guardo el historial de traducciones en los chats de grupo. \
                            Envíame /history en un chat privado para ver el tuyo.",
    history_disabled: "El historial de traducciones está desactivado en este bot.",
    forgotten: "Hecho: borré todo lo que tenía guardado sobre ti ({items}: ajustes, historial y \
                recuentos de uso).",
    quota_reached: "Has alcanzado el límite diario de {limit}. Se restablece a medianoche (UTC), \
                    dentro de {wait}. ¡Hasta entonces!",

    translated_count: "{ok} de {total} traducidos",
    failed_for: "falló la traducción a {languages}: {reason}",
    translation_failed: "La traducción falló: {reason}",
    detected_source: "idioma de origen: {language} (detectado)",
    given_source: "idioma de origen: {language}",
    demo_note: "(repertorio de frases de la demo sin conexión, no un servicio de traducción real)",
    demo_explained: "ⓘ Esta es la demo sin conexión: solo conoce un repertorio de frases comunes \
                     (prueba con \"good morning\" o \"thank you\"). Para traducir cualquier \
                     texto, configura un proveedor (consulta el README).",

    reason_timeout: "el proveedor tardó demasiado en responder",
    reason_rate_limited: "el proveedor está saturado (límite de solicitudes)",
    reason_server_error: "error del proveedor (HTTP {status})",
    reason_refused: "el proveedor rechazó la solicitud (HTTP {status})",
    reason_unreachable: "no se pudo contactar con el proveedor",
    reason_nonsense: "el proveedor devolvió una respuesta sin sentido",
    reason_circuit_open: "proveedor desactivado temporalmente tras varios fallos (reintento en \
                          {secs} s)",
    reason_unavailable: "proveedor no disponible",
    reason_busy: "todos los proveedores están ocupados; inténtalo de nuevo en un minuto",
    reason_quota: "se agotó el presupuesto de traducción de hoy; inténtalo de nuevo mañana",
};
