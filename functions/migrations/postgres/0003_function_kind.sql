-- What a version exports: an HTTP handler, an event handler or a schedule handler.
ALTER TABLE function_versions ADD COLUMN kind TEXT NOT NULL DEFAULT 'http';
