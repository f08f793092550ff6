namespace Quanta.Web.Tests;

/// <summary>Scripts the tests run inside the page, where they see every DOM update as it happens.</summary>
internal static class PageScripts
{
    /// <summary>
    /// Records into window.__updates one [length, batch] pair per text the answer showed: the text node each update
    /// put in (later updates replace it, so it keeps its length) and the observer callback that saw it (one per
    /// turn of the page's event loop).
    /// </summary>
    public const string RecordAnswerLengths = """
        () => {
          window.__updates = [];
          let batch = 0;
          new MutationObserver(records => {
            batch++;
            for (const r of records)
              if (r.target.matches && r.target.matches(".msg.assistant .text"))
                for (const n of r.addedNodes) if (n.nodeType === Node.TEXT_NODE) window.__updates.push([n.data.length, batch]);
          }).observe(document.getElementById("log"), { childList: true, subtree: true });
        }
        """;

    /// <summary>Clicks Stop as soon as the streaming answer holds more than <c>chars</c> characters.</summary>
    public const string StopAfterChars = """
        chars => {
          const obs = new MutationObserver(records => {
            for (const r of records)
              if (r.target.matches && r.target.matches(".msg.assistant[data-state=streaming] .text") && r.target.textContent.length > chars) {
                obs.disconnect();
                window.__stoppedAt = r.target.textContent.length;
                document.getElementById("stop").click();
                return;
              }
          });
          obs.observe(document.getElementById("log"), { childList: true, subtree: true });
        }
        """;
}
