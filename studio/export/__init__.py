"""Taking a character out of the studio: GGUF (+ Ollama Modelfile), vLLM files, all carrying the template contract
and verified by reading the export back before it is published."""
