-- The router that chose a generation's model (`openrouter/auto`,
-- `openrouter/free`): `router` in GET /generation.
ALTER TABLE generations ADD COLUMN router TEXT;
