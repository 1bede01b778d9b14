// Batching by turn of the event loop: work handed over in one turn (files to chunk, files to
// write) goes to the native addon in one call, made once the turn is over.

/** A function that runs `send` once, after the current turn, however often it is called in it. */
export function oncePerTurn(send: () => void): () => void {
  let scheduled = false;
  return () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      send();
    });
  };
}
