// The WebSocket side. /ws carries every live frame; a frame from a persisted event has an
// event_seq, and after a drop the feed reconnects with ?since= and the gateway first replays the
// events after it. One event can be several frames sharing its event_seq (a batch of a run's
// output lines, a task update and an agent's status), so a drop can fall between two of them:
// the feed resumes from the event before the last one it saw, and skips as many frames of that
// event as it had shown (a replayed event is rendered exactly as it was live). The same rule as
// the Python client's Resume. /ws/execution/{id} replays a run's output from the first line;
// lines are numbered, so a reconnect skips those already shown, and lines the output stream no
// longer holds arrive as an execution_output_lost frame, shown in their place.

import { askToken, token } from "./api.js";

const WS_POLICY_VIOLATION = 1008;

function wsUrl(path) {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${window.location.host}${path}`;
}

function authenticate(socket) {
  const current = token();
  if (current) socket.send(JSON.stringify({ type: "auth", token: current }));
}

export class LiveFeed {
  constructor() {
    this.lastSeq = null;
    this.shownAtLast = 0; // frames of the event at lastSeq passed on
    this.toSkip = 0; // frames of that event a replay sends again, already passed on
    this.socket = null;
    this.frames = new Set();
    this.states = new Set();
    this.state = "connecting";
    this.delay = 500;
    this.everOpen = false;
    this.stopped = false;
  }

  onFrame(fn) {
    this.frames.add(fn);
    return () => this.frames.delete(fn);
  }

  onState(fn) {
    this.states.add(fn);
    fn(this.state);
    return () => this.states.delete(fn);
  }

  setState(state) {
    if (state === this.state) return;
    this.state = state;
    for (const fn of this.states) fn(state);
  }

  start(since) {
    this.lastSeq = Number.isInteger(since) ? since : null;
    this.shownAtLast = 0;
    this.connect();
  }

  since() {
    this.toSkip = this.shownAtLast;
    if (this.lastSeq === null) return null;
    return this.shownAtLast > 0 && this.lastSeq > 0 ? this.lastSeq - 1 : this.lastSeq;
  }

  connect() {
    const since = this.since();
    const query = since === null ? "" : `?since=${since}`;
    const socket = new WebSocket(wsUrl(`/ws${query}`));
    this.socket = socket;
    socket.addEventListener("open", () => {
      authenticate(socket);
      this.delay = 500;
      this.everOpen = true;
      this.setState("live");
    });
    socket.addEventListener("message", (message) => this.receive(message.data));
    socket.addEventListener("close", (event) => this.closed(socket, event));
  }

  receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch (_) {
      return;
    }
    if (!this.isNew(frame.event_seq)) return;
    for (const fn of this.frames) fn(frame);
  }

  isNew(seq) {
    if (!Number.isInteger(seq)) return true; // not persisted, never replayed
    if (this.lastSeq !== null && seq < this.lastSeq) return false;
    if (this.lastSeq !== null && seq === this.lastSeq) {
      if (this.toSkip > 0) {
        this.toSkip -= 1;
        return false;
      }
      this.shownAtLast += 1;
      return true;
    }
    this.lastSeq = seq;
    this.shownAtLast = 1;
    this.toSkip = 0;
    return true;
  }

  async closed(socket, event) {
    if (socket !== this.socket || this.stopped) return;
    if (event.code === WS_POLICY_VIOLATION && token() !== null) {
      this.setState("unauthorized");
      await askToken(true);
      this.connect();
      return;
    }
    this.setState("reconnecting");
    const wait = this.delay;
    this.delay = Math.min(this.delay * 2, 4000);
    setTimeout(() => this.connect(), wait);
  }
}

export class ExecutionStream {
  constructor(executionId, { onLine, onFinished, onState }) {
    this.id = executionId;
    this.onLine = onLine;
    this.onFinished = onFinished;
    this.onState = onState || (() => {});
    this.lastLine = -1;
    this.finished = false;
    this.closedByUs = false;
    this.connect();
  }

  connect() {
    const socket = new WebSocket(wsUrl(`/ws/execution/${encodeURIComponent(this.id)}`));
    this.socket = socket;
    socket.addEventListener("open", () => {
      authenticate(socket);
      this.onState("live");
    });
    socket.addEventListener("message", (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "execution_output") {
        if (frame.line <= this.lastLine) return;
        this.lastLine = frame.line;
        this.onLine(frame);
      } else if (frame.type === "execution_output_lost") {
        // Lines the output stream's retention dropped: said where they were, never skipped silently.
        if (frame.last_line <= this.lastLine) return;
        this.lastLine = frame.last_line;
        this.onLine({ ...frame, line: frame.last_line, lost: true,
          output: `[${frame.output_lost} line(s) lost: dropped by the output retention]` });
      } else if (frame.type === "execution_finished") {
        this.finished = true;
        this.onFinished(frame);
      } else if (frame.type === "error") {
        this.finished = true;
        this.onFinished({ status: "error", exit_code: null, error: frame.error });
      }
    });
    socket.addEventListener("close", () => {
      if (this.finished || this.closedByUs) return;
      this.onState("reconnecting");
      setTimeout(() => this.connect(), 1000);
    });
  }

  close() {
    this.closedByUs = true;
    this.socket?.close();
  }
}
