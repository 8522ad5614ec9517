-- Generations of the Anthropic Messages and OpenAI Responses ingresses:
-- `api_type` may also be 'messages' or 'responses'.
ALTER TABLE generations DROP CONSTRAINT generations_api_type_check;
ALTER TABLE generations ADD CONSTRAINT generations_api_type_check
    CHECK (api_type IN ('completions', 'embeddings', 'messages', 'responses'));
