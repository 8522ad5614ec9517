-- Web search (`:online`, the `web` plugin, the `openrouter:web_search`
-- server tool): how many results a generation got, and from which engine
-- (`/generation` `num_search_results` and `web_search_engine`). NULL when
-- no search ran.
ALTER TABLE generations ADD COLUMN num_search_results INTEGER CHECK (num_search_results >= 0);
ALTER TABLE generations ADD COLUMN web_search_engine TEXT;
