// Batching by turn of the event loop: work handed over in one turn (files to chunk, acks, files
// to write) goes to a worker thread in one message, sent once the turn is over.

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
