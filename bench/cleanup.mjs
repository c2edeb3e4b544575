// What a bench run makes (namespaces, pins, temporary folders) is removed
// when it ends, also when it is interrupted: Ctrl-C, or the SIGTERM of a
// timeout. Each part registers how to undo what it made and releases that
// once it has cleaned up itself.
const pending = [];
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };
let installed = false;

/** Runs `undo` if the process is interrupted before the returned release is called. */
export function cleanupOnSignal(undo) {
  pending.push(undo);
  if (!installed) {
    installed = true;
    for (const [signal, number] of Object.entries(SIGNALS)) {
      process.once(signal, () => {
        for (const u of pending.splice(0).reverse()) {
          try {
            u();
          } catch {
            // the rest still gets its turn
          }
        }
        console.error(`bench: interrupted (${signal}); what it made is removed`);
        process.exit(128 + number);
      });
    }
  }
  return () => {
    const i = pending.indexOf(undo);
    if (i >= 0) pending.splice(i, 1);
  };
}
