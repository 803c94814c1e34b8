// The React page of tests/browser: README's "Use it in React" component (copied next to
// this file as App.tsx by the test), mounted in StrictMode (effects run twice).
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { Inbox } from "./App";

const getToken = async (): Promise<string> => (await fetch("/auth/token")).text();

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <Inbox getToken={getToken} />
  </StrictMode>,
);
