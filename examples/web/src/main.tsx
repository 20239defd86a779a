import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import { type NotesApp, startNotesApp } from './notes.js';

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
startNotesApp().then(
  (app) => {
    // For the browser console (and the browser tests): `notesApp.notes.getAll()`, `notesApp.tabs.isLeader`.
    (globalThis as { notesApp?: NotesApp }).notesApp = app;
    createRoot(root).render(
      <StrictMode>
        <App app={app} />
      </StrictMode>,
    );
  },
  (error: unknown) => {
    root.textContent = `The app could not start: ${error instanceof Error ? error.message : String(error)}`;
  },
);
