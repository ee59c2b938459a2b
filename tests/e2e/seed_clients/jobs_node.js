const axios = require('axios');
const fs = require('fs');
const path = require('path');
const FormData = require('form-data');

class DeepReadOCR {
  constructor(apiKey, baseURL = 'https://api.deepreadocr.com/api/v1') {
    this.apiKey = apiKey;
    this.baseURL = baseURL;
    this.headers = { 'X-API-Key': apiKey };
  }

  async listModes() {
    const response = await axios.get(`${this.baseURL}/ocr-modes`, {
      headers: this.headers
    });
    return response.data;
  }

  async processImage(imagePath, mode = 'ocr', pollInterval = 2000) {
    const fileName = path.basename(imagePath);
    const contentType = this.getContentType(path.extname(imagePath));
    
    // Get upload URL
    const uploadResponse = await axios.post(
      `${this.baseURL}/upload/signed-url?mode=${mode}`,
      null,
      { headers: this.headers }
    );
    
    const { url, fields, key_prefix } = uploadResponse.data;
    
    // Upload to S3
    const form = new FormData();
    Object.keys(fields).forEach(key => {
      let value = fields[key];
      if (key === 'key') value = value.replace('${filename}', fileName);
      form.append(key, value);
    });
    form.append('Content-Type', contentType);
    form.append('file', fs.createReadStream(imagePath));
    
    await axios.post(url, form, { headers: form.getHeaders() });
    
    // Poll for completion
    const baseName = fileName.replace(/\.[^/.]+$/, '');
    while (true) {
      const jobsResp = await axios.get(`${this.baseURL}/processing-jobs`, {
        headers: this.headers,
        params: { filename: baseName, mode }
      });
      
      const job = jobsResp.data.files.find(j => 
        j.status === 'completed' && j.mode === mode
      );
      
      if (job) {
        // Download result
        const dlResp = await axios.post(
          `${this.baseURL}/download/signed-url`,
          null,
          { headers: this.headers, params: { file_path: job.output_key } }
        );
        
        const result = await axios.get(dlResp.data.url);
        return result.data;
      }
      
      await new Promise(resolve => setTimeout(resolve, pollInterval));
    }
  }

  getContentType(extension) {
    const types = {
      '.png': 'image/png',
      '.jpg': 'image/jpeg',
      '.jpeg': 'image/jpeg',
      '.bmp': 'image/bmp',
      '.pdf': 'application/pdf'
    };
    return types[extension.toLowerCase()] || 'application/octet-stream';
  }
}

// Usage
(async () => {
  const ocr = new DeepReadOCR('your_api_key_here');
  
  const modes = await ocr.listModes();
  console.log('Available modes:', modes.map(m => m.name));
  
  const result = await ocr.processImage('./document.png', 'table');
  console.log('Mode used:', result.mode);
  console.log('Extracted text:', result.extracted_text);
  console.log('Tokens:', result.usage.total_tokens);
})();
